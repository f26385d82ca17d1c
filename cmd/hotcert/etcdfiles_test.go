package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
)

const clusterSection = "cluster:\n  node: lb1\n  etcd:\n    endpoints: [https://127.0.0.1:2379]\n" +
	"    ca_file: etcd/ca.pem\n    cert_file: etcd/client.pem\n    key_file: etcd/client.key\n" +
	"    username: hotcert\n    password_file: etcd/password\n"

func TestCheckReadsTheClusterFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", clusterSection)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("check exit %d, want 1 for missing files; stdout %q", code, stdout.String())
	}
	for _, want := range []string{":12:14: cluster.etcd.ca_file: open " + filepath.Join(dir, "etcd/ca.pem"),
		":16:20: cluster.etcd.password_file: open " + filepath.Join(dir, "etcd/password")} {
		if !strings.Contains(stderr.String(), cfg+want) {
			t.Errorf("check output lacks %q:\n%s", want, stderr.String())
		}
	}

	writeEtcdFiles(t, filepath.Join(dir, "etcd"))
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("check exit %d with every file in place: %s", code, stderr.String())
	}
}

func TestEtcdTLSAndPassword(t *testing.T) {
	dir := t.TempDir()
	writeEtcdFiles(t, dir)
	e := configs.Etcd{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"),
		KeyFile: filepath.Join(dir, "client.key"), PasswordFile: filepath.Join(dir, "password")}
	tc, err := etcdTLS(e)
	if err != nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("etcdTLS = %+v, %v; want roots, one client certificate, TLS 1.2 at least", tc, err)
	}
	if p, err := etcdPassword(e); err != nil || p != "s3cret pass" {
		t.Errorf("etcdPassword = %q, %v; want the file without its trailing newline", p, err)
	}
	if tc, err := etcdTLS(configs.Etcd{}); tc != nil || err != nil {
		t.Errorf("no TLS files: %v, %v; want nil, so that the client uses the system roots", tc, err)
	}
	if p, err := etcdPassword(configs.Etcd{}); p != "" || err != nil {
		t.Errorf("no password file: %q, %v", p, err)
	}

	otherKey := filepath.Join(dir, "other.key")
	writeFile(t, otherKey, pemKey(t, newKey(t)))
	writeFile(t, e.PasswordFile, []byte("\n"))
	tlsErr := func(_ *tls.Config, err error) error { return err }
	for what, err := range map[string]error{
		"a key as ca_file":   tlsErr(etcdTLS(configs.Etcd{CAFile: e.KeyFile})),
		"a key of another":   tlsErr(etcdTLS(configs.Etcd{CertFile: e.CertFile, KeyFile: otherKey})),
		"a missing key_file": tlsErr(etcdTLS(configs.Etcd{CertFile: e.CertFile, KeyFile: filepath.Join(dir, "none")})),
		"an empty password":  func() error { _, err := etcdPassword(e); return err }(),
	} {
		if err == nil || strings.Contains(err.Error(), "PRIVATE KEY") || !strings.HasPrefix(err.Error(), "cluster.etcd.") {
			t.Errorf("%s: %v; want an error that names the field, and never quotes a key", what, err)
		}
	}
}

// writeEtcdFiles writes a CA, a client certificate it signed, the client's
// key and a password into dir.
func writeEtcdFiles(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	caKey, clientKey := newKey(t), newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "hotcert"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	writeFile(t, filepath.Join(dir, "client.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}))
	writeFile(t, filepath.Join(dir, "client.key"), pemKey(t, clientKey))
	writeFile(t, filepath.Join(dir, "password"), []byte("s3cret pass\n"))
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
