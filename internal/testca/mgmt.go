package testca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"time"
)

// IssuerRootPEM fetches the root that Pebble issues under (management /roots/0), to verify
// chains against.
func (c *CA) IssuerRootPEM(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.ManagementURL+"/roots/0", nil)
	if err != nil {
		return nil, err
	}
	body, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("testca: issuer root: %w", err)
	}
	return body, nil
}

// SetRenewalWindow makes Pebble's renewalInfo for leaf answer the window [start, end).
// Pebble serves the override with a Retry-After of six hours.
func (c *CA) SetRenewalWindow(ctx context.Context, leaf *x509.Certificate, start, end time.Time) error {
	window := map[string]any{"suggestedWindow": map[string]time.Time{"start": start.UTC(), "end": end.UTC()}}
	ari, err := json.Marshal(window)
	if err != nil {
		return err
	}
	return c.SetRenewalInfo(ctx, leaf, string(ari))
}

// SetRenewalInfo makes Pebble answer renewalInfo for leaf with raw, which need not be valid
// JSON (to test clients against a misbehaving CA).
func (c *CA) SetRenewalInfo(ctx context.Context, leaf *x509.Certificate, raw string) error {
	payload, err := json.Marshal(struct{ Certificate, ARIResponse string }{
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		ARIResponse: raw,
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ManagementURL+"/set-renewal-info/",
		bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if _, err := c.do(req); err != nil {
		return fmt.Errorf("testca: set renewal info for serial %x: %w", leaf.SerialNumber, err)
	}
	return nil
}

func (c *CA) do(req *http.Request) ([]byte, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}
