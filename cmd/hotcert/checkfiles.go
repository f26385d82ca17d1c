package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/dns01"
)

// fileCheck is one file the config names: check reads it, then, when load
// is set, parses it the way run does.
type fileCheck struct {
	field, path string
	load        func() error
}

// reportFiles reads the files that `hotcert run` refuses to start without
// (acme.ca_roots, acme.account_key, acme.eab.hmac_key_file,
// dns.tsig_secret_file, and the cluster.etcd files), so that check does not
// say ok for a config that run rejects. Each problem is printed at its
// field, as FILE:LINE:COL: FIELD: message. A file that this user may not
// read, or that lives in systemd's credentials directory, is a warning: the
// daemon's user, in its unit, may well read it. It says whether there was
// an error.
func reportFiles(w io.Writer, cfg *configs.Config) bool {
	a := cfg.ACME
	checks := []fileCheck{
		{"acme.ca_roots", a.CARoots, func() error { _, err := acmeHTTPClient(a.CARoots); return err }},
		{"acme.account_key", a.AccountKey, func() error { _, err := accountKey(cfg, nil); return err }},
		{"acme.eab.hmac_key_file", a.EAB.HMACKeyFile, func() error { return loadEABKey(&configs.Config{ACME: a}) }},
	}
	for _, sec := range dnsConfigs(cfg) {
		f := sec.dns.TSIGSecretFile
		checks = append(checks, fileCheck{sec.field + ".tsig_secret_file", f, func() error { _, err := dns01.ReadSecret(f); return err }})
	}
	if c := cfg.Cluster; c != nil {
		e := c.Etcd
		checks = append(checks, fileCheck{"cluster.etcd.ca_file", e.CAFile, nil}, fileCheck{"cluster.etcd.cert_file", e.CertFile, nil},
			fileCheck{"cluster.etcd.key_file", e.KeyFile, nil},
			fileCheck{"cluster.etcd.password_file", e.PasswordFile, func() error { _, err := etcdPassword(e); return err }})
	}
	var ps []problem
	unread := map[string]bool{}
	for _, fc := range checks {
		if p, ok := fc.check(cfg.Problem); !ok {
			ps, unread[fc.field] = append(ps, p), true
		}
	}
	// What the files make together, once each could be read.
	for _, sec := range dnsConfigs(cfg) {
		if unread[sec.field+".tsig_secret_file"] {
			continue
		}
		var fe *dnsFieldError
		if _, err := dnsSolver(sec, slog.New(slog.DiscardHandler)); errors.As(err, &fe) {
			ps = append(ps, problem{cfg.Problem(fe.Field, "%s", trimField(fe.Err.Error(), fe.Field)), false})
		}
	}
	if c := cfg.Cluster; c != nil && !unread["cluster.etcd.ca_file"] && !unread["cluster.etcd.cert_file"] && !unread["cluster.etcd.key_file"] {
		if _, err := etcdTLS(c.Etcd); err != nil {
			ps = append(ps, problem{cfg.Problem("cluster.etcd", "%v", err), false})
		}
	}
	return printProblems(w, ps)
}

// reportKeyFiles warns about every certificate's key_file that cannot be
// read. Warnings only: run starts without them, and only that certificate's
// orders fail, so a unit's ExecStartPre must not refuse to start for one.
func reportKeyFiles(w io.Writer, d *configs.Domains) {
	var ps []problem
	for i, c := range d.Certificates {
		fc := fileCheck{field: fmt.Sprintf("certificates[%d].key_file", i), path: c.KeyFile}
		if p, ok := fc.check(d.Problem); !ok {
			p.warning = true
			ps = append(ps, p)
		}
	}
	printProblems(w, ps)
}

// problem is a configs.Problem that is an error, or only a warning.
type problem struct {
	configs.Problem
	warning bool
}

// check reads the file, and says what is wrong with it, located by locate.
func (fc fileCheck) check(locate func(field, format string, args ...any) configs.Problem) (problem, bool) {
	if fc.path == "" {
		return problem{}, true
	}
	if configs.NeedsCredentials(fc.path) {
		return problem{locate(fc.field, "not checked: %s: %v", fc.path, errNoCredentials), true}, false
	}
	f, err := os.Open(fc.path)
	if err == nil {
		f.Close()
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return problem{locate(fc.field, "not checked: this user (uid %d) cannot read %s; check again as the user hotcert runs as",
			os.Getuid(), fc.path), true}, false
	case err != nil:
		return problem{locate(fc.field, "%v", err), false}, false
	case fc.load != nil:
		if err := fc.load(); err != nil {
			return problem{locate(fc.field, "%s", trimField(err.Error(), fc.field)), false}, false
		}
	}
	return problem{}, true
}

// printProblems prints each problem on its line, warnings marked as such,
// and says whether one was an error.
func printProblems(w io.Writer, ps []problem) bool {
	bad := false
	for _, p := range ps {
		if p.warning {
			p.Msg = "warning: " + p.Msg
		}
		fmt.Fprintln(w, p.Problem.String())
		bad = bad || !p.warning
	}
	return bad
}

// trimField drops the field name that run's own error messages start with,
// since the problem names it already.
func trimField(msg, field string) string {
	if rest, ok := strings.CutPrefix(msg, field+": "); ok {
		return rest
	}
	if rest, ok := strings.CutPrefix(msg, field+" "); ok {
		return rest
	}
	return msg
}
