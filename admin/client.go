package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hotcert/hotcert/daemon"
)

// Client calls the admin API of a running hotcert, as `hotcert status`,
// `renew` and `revoke` do.
type Client struct {
	// URL is where the API answers, e.g. "http://127.0.0.1:9180".
	URL string
	// Token is sent as the bearer token. Reads need none; a state change
	// without the right one is a *StatusError with Code 401.
	Token string
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// NewClient returns a client of the API served on listen, the admin.listen
// of the daemon's config: a wildcard host is reached on loopback.
func NewClient(listen, token string) *Client {
	return &Client{URL: "http://" + dialAddr(listen), Token: token, HTTPClient: &http.Client{Timeout: 90 * time.Second}}
}

// dialAddr turns a listen address into one to connect to: a wildcard host
// becomes loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// StatusError is an answer of the admin API that is not a success.
type StatusError struct {
	Code   int    // HTTP status code
	Status string // HTTP status line, e.g. "404 Not Found"
	// Problem is the answer's problem document; zero when it had none.
	Problem Problem
}

// Error is the problem's detail on one line, or else the status.
func (e *StatusError) Error() string {
	if e.Problem.Detail != "" {
		return strings.Join(strings.Fields(e.Problem.Detail), " ")
	}
	return "admin API: " + e.Status
}

// Certificates returns GET /v1/certificates: every certificate, and the
// error of a rejected domains file.
func (c *Client) Certificates(ctx context.Context) (*CertList, error) {
	b, err := c.CertificatesJSON(ctx)
	if err != nil {
		return nil, err
	}
	var list CertList
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	return &list, nil
}

// CertificatesJSON returns GET /v1/certificates as the daemon wrote it.
func (c *Client) CertificatesJSON(ctx context.Context) ([]byte, error) {
	return c.call(ctx, http.MethodGet, "/v1/certificates", nil)
}

// Renew queues a renewal of the certificate name.
func (c *Client) Renew(ctx context.Context, name string) error {
	_, err := c.call(ctx, http.MethodPost, "/v1/certificates/"+url.PathEscape(name)+"/renew", nil)
	return err
}

// Revoke revokes the certificate name with an RFC 5280 reason code (see
// ParseReason); the daemon then orders a replacement.
func (c *Client) Revoke(ctx context.Context, name string, reason int) error {
	form := url.Values{"reason": {strconv.Itoa(reason)}}
	_, err := c.call(ctx, http.MethodPost, "/v1/certificates/"+url.PathEscape(name)+"/revoke", form)
	return err
}

// ConfirmRemovals lets go the removals that safety.removal_limit holds now
// and returns their names.
func (c *Client) ConfirmRemovals(ctx context.Context) ([]string, error) {
	b, err := c.call(ctx, http.MethodPost, "/v1/removals/confirm", nil)
	if err != nil {
		return nil, err
	}
	var out Confirmed
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	return out.Confirmed, nil
}

// PlanJSON returns POST /v1/plan as the daemon wrote it: what the next pass
// would do with the domains file data. label names the file in the
// problems of a rejected one, which come back as a *StatusError whose
// Problem lists them.
func (c *Client) PlanJSON(ctx context.Context, label string, data []byte) ([]byte, error) {
	return c.callWith(ctx, http.MethodPost, "/v1/plan?"+url.Values{"file": {label}}.Encode(), "application/yaml", bytes.NewReader(data))
}

// Plan is PlanJSON decoded.
func (c *Client) Plan(ctx context.Context, label string, data []byte) (*daemon.Plan, error) {
	b, err := c.PlanJSON(ctx, label, data)
	if err != nil {
		return nil, err
	}
	var p daemon.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	return &p, nil
}

// Health returns GET /healthz. An unready daemon answers 503 with the same
// document, so that is no error.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	resp, b, err := c.send(ctx, http.MethodGet, "/healthz", "", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return nil, statusError(resp, b)
	}
	var h Health
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	return &h, nil
}

// call sends a request and returns the body of a successful answer; any
// other answer is a *StatusError.
func (c *Client) call(ctx context.Context, method, path string, form url.Values) ([]byte, error) {
	var body io.Reader
	var ctype string
	if form != nil {
		body, ctype = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	}
	return c.callWith(ctx, method, path, ctype, body)
}

// callWith is call with any body.
func (c *Client) callWith(ctx context.Context, method, path, ctype string, body io.Reader) ([]byte, error) {
	resp, b, err := c.send(ctx, method, path, ctype, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, statusError(resp, b)
	}
	return b, nil
}

// send makes one request and reads the answer whatever its status.
func (c *Client) send(ctx context.Context, method, path, ctype string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return nil, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the admin API at %s (is hotcert running?): %w", c.URL, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("admin API: %w", err)
	}
	return resp, b, nil
}

func statusError(resp *http.Response, body []byte) *StatusError {
	e := &StatusError{Code: resp.StatusCode, Status: resp.Status}
	if json.Unmarshal(body, &e.Problem) != nil {
		e.Problem = Problem{}
	}
	return e
}

// unwrapURL drops the method and URL that http.Client adds to an error:
// the message names the API's address already.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
