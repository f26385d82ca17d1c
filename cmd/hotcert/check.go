package main

import (
	"errors"
	"fmt"
	"io"

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
	}
	if bad {
		return errReported
	}
	fmt.Fprintln(stdout, "ok:", *cfgPath, "and", cfg.DomainsFile)
	return nil
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
