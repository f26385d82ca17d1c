package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/daemon"
)

// cmdPut writes a certificate through the admin API, as a platform's
// signup code would with PUT /v1/certificates/{name}.
func cmdPut(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("put", stderr)
	domains := fs.String("domains", "", "the certificate's `names`, comma-separated (required)")
	keyType := fs.String("key-type", "", "key `types`, comma-separated for a dual certificate (default ecdsa-p256)")
	challenge := fs.String("challenge", "", "http-01 (default) or dns-01")
	provider := fs.String("dns-provider", "", "one of the config's dns_providers, for dns-01")
	wait := fs.Bool("wait", false, "answer once every HAProxy serves the certificate")
	timeout := fs.Duration("timeout", 60*time.Second, "with --wait: give up waiting after `D` (at most 10m)")
	pos, err := parseArgs(fs, args, stdout, 1, 1)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*domains) == "" {
		return badUsage(fs, stderr, "--domains is required")
	}
	if !*wait && flagSet(fs, "timeout") {
		return badUsage(fs, stderr, "--timeout is only for --wait")
	}
	req := admin.CertRequest{Domains: splitList(*domains), KeyType: splitList(*keyType), Challenge: *challenge, DNSProvider: *provider}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	var limit time.Duration
	if *wait {
		limit = *timeout
		// The daemon answers 202 at limit; the request must outlive it.
		c.HTTPClient = &http.Client{Timeout: limit + 30*time.Second}
	}
	st, code, err := c.Put(context.Background(), pos[0], req, limit)
	if err != nil {
		return c.explain(err)
	}
	return printPut(stdout, st, code, limit)
}

// printPut says what became of the certificate; not served within the
// limit is exit status 1, though it is written and stays.
func printPut(w io.Writer, st daemon.CertStatus, code int, limit time.Duration) error {
	what := "replaced"
	if code == http.StatusCreated {
		what = "created"
	}
	switch {
	case code == http.StatusAccepted:
		fmt.Fprintf(w, "%s: written, not served by every HAProxy within %v: state %s\n", st.Name, limit, st.State)
		if st.LastError != "" {
			fmt.Fprintf(w, "  last error: %s\n", oneLine(st.LastError))
		}
		return errReported
	case limit > 0:
		fmt.Fprintf(w, "%s: %s and served (serial %s)\n", st.Name, what, orDash(st.Serial))
	default:
		fmt.Fprintf(w, "%s: %s; state %s (hotcert status %s, or put --wait)\n", st.Name, what, st.State, st.Name)
	}
	return nil
}

func cmdDelete(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("delete", stderr)
	pos, err := parseArgs(fs, args, stdout, 1, 1)
	if err != nil {
		return err
	}
	c, err := newAPIClient(*cfgPath, true)
	if err != nil {
		return err
	}
	if err := c.Delete(context.Background(), pos[0]); err != nil {
		return c.explain(err)
	}
	fmt.Fprintf(stdout, "%s: deleted; hotcert takes it out of every HAProxy\n", pos[0])
	return nil
}

// splitList splits a comma-separated flag, dropping empty parts.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
