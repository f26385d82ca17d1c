package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/hotcert/hotcert/configs"
)

// reportFiles reads the files that `hotcert run` refuses to start without
// (acme.ca_roots, acme.account_key, dns.tsig_secret_file, and the
// cluster.etcd files through etcdTLS and etcdPassword, which build what the
// cluster is opened with), so that check does not say ok for a config that
// run rejects. It prints one line per problem and says whether there was one.
func reportFiles(w io.Writer, cfgPath string, cfg *configs.Config) bool {
	var errs []error
	if _, err := acmeHTTPClient(cfg.ACME.CARoots); err != nil {
		errs = append(errs, err)
	}
	if cfg.ACME.AccountKey != "" {
		if _, err := accountKey(cfg, nil); err != nil { // the operator's file; the store is not read
			errs = append(errs, err)
		}
	}
	if _, err := dnsSolver(cfg, slog.New(slog.DiscardHandler)); err != nil {
		errs = append(errs, err)
	}
	if c := cfg.Cluster; c != nil {
		if _, err := etcdTLS(c.Etcd); err != nil {
			errs = append(errs, err)
		}
		if _, err := etcdPassword(c.Etcd); err != nil {
			errs = append(errs, err)
		}
	}
	for _, err := range errs {
		fmt.Fprintf(w, "%s: %v\n", cfgPath, err)
	}
	return len(errs) > 0
}
