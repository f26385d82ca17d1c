package issuer

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// RenewalInfo fetches the CA's suggested renewal window for leaf (RFC 9773) and the
// Retry-After to honour before asking again. It returns ErrNoARI when the CA offers none.
func (c *Client) RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*Window, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	base, err := c.renewalInfoURL(ctx)
	if err != nil {
		return nil, 0, err
	}
	id, err := certID(leaf)
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/"+id, nil)
	if err != nil {
		return nil, 0, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, 0, classify("renewal info", "", "", err)
	}
	defer res.Body.Close()
	retry := parseRetryAfter(res.Header.Get("Retry-After"))
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return nil, retry, &Error{op: "renewal info", Detail: fmt.Sprintf("%s: %s", res.Status, strings.TrimSpace(string(body))),
			RetryAfter: retry, Err: errors.New(res.Status)}
	}
	w, err := decodeWindow(res.Body)
	if err != nil {
		return nil, retry, &Error{op: "renewal info", Err: err}
	}
	return w, retry, nil
}

func decodeWindow(r io.Reader) (*Window, error) {
	var v struct {
		SuggestedWindow struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
	}
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&v); err != nil {
		return nil, fmt.Errorf("decode renewal info: %w", err)
	}
	w := &Window{Start: v.SuggestedWindow.Start, End: v.SuggestedWindow.End}
	if w.Start.IsZero() || !w.End.After(w.Start) {
		return nil, fmt.Errorf("invalid suggested window %s .. %s", w.Start, w.End)
	}
	return w, nil
}

// renewalInfoURL reads the renewalInfo endpoint from the raw directory, which x/crypto's
// Directory type does not carry. The answer is cached.
func (c *Client) renewalInfoURL(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ariURL != nil {
		return *c.ariURL, c.noARI(*c.ariURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.DirectoryURL, nil)
	if err != nil {
		return "", err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return "", classify("read directory", "", "", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", &Error{op: "read directory", Err: errors.New(res.Status)}
	}
	var dir struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&dir); err != nil {
		return "", &Error{op: "read directory", Err: err}
	}
	c.ariURL = &dir.RenewalInfo
	return dir.RenewalInfo, c.noARI(dir.RenewalInfo)
}

func (c *Client) noARI(url string) error {
	if url == "" {
		return ErrNoARI
	}
	return nil
}

// certID is base64url(AKI) "." base64url(serial), the serial as the DER INTEGER's content
// bytes (two's complement, so a leading 0x00 when the high bit is set).
func certID(leaf *x509.Certificate) (string, error) {
	if len(leaf.AuthorityKeyId) == 0 {
		return "", errors.New("renewal info: certificate has no authority key identifier")
	}
	serial := leaf.SerialNumber.Bytes()
	if len(serial) == 0 || serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(leaf.AuthorityKeyId) + "." + enc.EncodeToString(serial), nil
}
