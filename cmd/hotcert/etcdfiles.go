package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/hotcert/hotcert/configs"
)

// etcdTLS builds the TLS config for etcd from cluster.etcd's files. It is
// nil when none is set: the etcd client then trusts the system's roots for
// https endpoints and presents no certificate. Like acme.ca_roots, the
// files are read here, where they are named, so that the cluster package
// gets a ready *tls.Config and `hotcert check` reads exactly what run does.
func etcdTLS(e configs.Etcd) (*tls.Config, error) {
	if e.CAFile == "" && e.CertFile == "" && e.KeyFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		b, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cluster.etcd.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("cluster.etcd.ca_file %s: no PEM certificate in it", e.CAFile)
		}
	}
	if e.CertFile == "" && e.KeyFile == "" {
		return t, nil
	}
	cert, err := os.ReadFile(e.CertFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.etcd.cert_file: %w", err)
	}
	key, err := os.ReadFile(e.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.etcd.key_file: %w", err)
	}
	pair, err := tls.X509KeyPair(cert, key) // its errors never quote the key
	if err != nil {
		return nil, fmt.Errorf("cluster.etcd.cert_file %s with key_file %s: %w", e.CertFile, e.KeyFile, err)
	}
	t.Certificates = []tls.Certificate{pair}
	return t, nil
}

// etcdPassword reads cluster.etcd.password_file; "" when it is not set. A
// trailing newline, as editors and `echo` leave, is not part of the password.
func etcdPassword(e configs.Etcd) (string, error) {
	if e.PasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(e.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("cluster.etcd.password_file: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("cluster.etcd.password_file %s: empty", e.PasswordFile)
	}
	return p, nil
}
