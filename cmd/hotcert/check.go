package main

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hotcert/hotcert/catalog"
	"github.com/hotcert/hotcert/configs"
)

// cmdCheck validates both files and prints every problem, one per line, as
// FILE:LINE:COL: FIELD: message.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("check", stderr)
	if _, err := parseArgs(fs, args, stdout, 0, 0); err != nil {
		return err
	}
	cfg, err := configs.LoadConfig(*cfgPath)
	if report(stderr, err) {
		if cfg == nil {
			return errReported
		}
	}
	bad := err != nil
	if cfg != nil {
		for _, w := range cfg.Warnings() {
			fmt.Fprintln(stderr, w.String())
		}
	}
	if cfg != nil && !bad {
		bad = reportFiles(stderr, cfg)
	}
	if cfg != nil {
		d, derr := cfg.LoadDomains()
		bad = report(stderr, derr) || bad
		if d != nil {
			reportKeyFiles(stderr, d)
		}
		bad = reportDomainsDir(stderr, cfg, derr) || bad
	}
	if bad {
		return errReported
	}
	fmt.Fprintln(stdout, "ok:", *cfgPath, "and", domainsLabel(cfg))
	return nil
}

// reportDomainsDir checks every file of domains_dir as run reads them, with
// the domains file: each file's problems, and a name or domain defined in
// two files, at FILE:LINE naming the other. What the domains file's own
// check (shown) printed already is not printed twice.
func reportDomainsDir(w io.Writer, cfg *configs.Config, shown error) bool {
	if cfg.DomainsDir == "" {
		return false
	}
	err := catalog.New(catalog.Options{Config: cfg}).Load(nil)
	var ps, seen configs.Problems
	if !errors.As(err, &ps) {
		return report(w, err)
	}
	errors.As(shown, &seen)
	var rest configs.Problems
	for _, p := range ps {
		if !slices.Contains(seen, p) {
			rest = append(rest, p)
		}
	}
	if len(rest) == 0 {
		return false // the domains file's own, printed already
	}
	return report(w, rest)
}

// report prints err, one problem per line, and says whether there was one.
func report(w io.Writer, err error) bool {
	if err == nil {
		return false
	}
	var ps configs.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.String())
		}
		return true
	}
	fmt.Fprintln(w, err)
	return true
}
