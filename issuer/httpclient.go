package issuer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"
)

// NewHTTPClient returns an HTTP client for the CA, with timeouts so that a
// stalled CA cannot hang an order. rootsPEM, when not nil, holds CA
// certificates to trust beside the system roots (a private CA or Pebble);
// it must hold at least one.
func NewHTTPClient(rootsPEM []byte) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 30 * time.Second
	if rootsPEM != nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(rootsPEM) {
			return nil, errors.New("no PEM certificates")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}
