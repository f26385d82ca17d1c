package configs

import (
	"net/url"
	"slices"
	"strings"
)

// knownCA is a CA that acme.directory may name by a shorthand.
type knownCA struct {
	shorthand, url string
	name           string // as the operator knows it, for messages
	eab            bool   // the CA registers accounts only with external account binding
	eabFrom        string // where the operator gets the binding
}

// knownCAs are the shorthands of acme.directory, in the order messages list them.
var knownCAs = []knownCA{
	{shorthand: "letsencrypt", url: "https://acme-v02.api.letsencrypt.org/directory", name: "Let's Encrypt"},
	{shorthand: "letsencrypt-staging", url: "https://acme-staging-v02.api.letsencrypt.org/directory", name: "Let's Encrypt staging"},
	{shorthand: "zerossl", url: "https://acme.zerossl.com/v2/DV90", name: "ZeroSSL", eab: true,
		eabFrom: "the ZeroSSL dashboard, Developer section"},
	{shorthand: "google", url: "https://dv.acme-v02.api.pki.goog/directory", name: "Google Trust Services", eab: true,
		eabFrom: "gcloud publicca external-account-keys create"},
	{shorthand: "google-staging", url: "https://dv.acme-v02.test-api.pki.goog/directory", name: "Google Trust Services staging", eab: true,
		eabFrom: "gcloud publicca external-account-keys create, with the staging API"},
}

// DirectoryShorthands are the names acme.directory accepts instead of a URL.
func DirectoryShorthands() []string {
	out := make([]string, len(knownCAs))
	for i, ca := range knownCAs {
		out[i] = ca.shorthand
	}
	return out
}

// expandDirectory turns a shorthand into its URL and leaves anything else as
// written, for checkDirectory to judge.
func expandDirectory(s string) string {
	for _, ca := range knownCAs {
		if s == ca.shorthand {
			return ca.url
		}
	}
	return s
}

func knownCAOf(directory string) (knownCA, bool) {
	i := slices.IndexFunc(knownCAs, func(ca knownCA) bool { return ca.url == directory })
	if i < 0 {
		return knownCA{}, false
	}
	return knownCAs[i], true
}

// checkEAB reports a CA that needs external account binding when none is
// set: registration would fail at start-up, after the operator deployed.
func (a *ACME) checkEAB(r *reporter) {
	ca, ok := knownCAOf(a.Directory)
	if !ok || !ca.eab || a.EAB.KeyID != "" || a.EAB.HMACKey != "" || a.EAB.HMACKeyFile != "" {
		return
	}
	r.add("acme.eab", "%s registers accounts only with external account binding: set acme.eab.key_id and acme.eab.hmac_key_file (or hmac_key) (from %s)",
		ca.name, ca.eabFrom)
}

func checkDirectory(r *reporter, field, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		if !strings.Contains(s, "/") {
			r.add(field, "%q is neither a URL nor a shorthand (%s)", s, strings.Join(DirectoryShorthands(), ", "))
			return
		}
		r.add(field, "%q is not an absolute URL", s)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		r.add(field, "must use https; http is allowed only for a loopback host, not %q", u.Hostname())
	case u.Scheme != "https" && u.Scheme != "http":
		r.add(field, "must be an https URL, not %s", u.Scheme)
	}
}

// checkSelfCheck: challenge.self_check is HAProxy's plain-HTTP frontend, the
// one the CA reaches on port 80, so only http://host[:port] makes sense.
func checkSelfCheck(r *reporter, field, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Scheme == "":
		r.add(field, "%q is not a URL such as http://127.0.0.1:80 (HAProxy's HTTP frontend)", s)
	case u.Scheme != "http":
		r.add(field, "must be an http URL: the CA validates HTTP-01 over plain HTTP, not %s", u.Scheme)
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		r.add(field, "must be http://host[:port] alone, without a path, query or user, not %q", s)
	case u.Port() != "" && !validPort(u.Port()):
		r.add(field, "%q: the port must be between 1 and 65535", s)
	}
}
