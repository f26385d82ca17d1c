package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/hotcert/hotcert/daemon"
)

// CertQuery selects a page of GET /v1/certificates; the zero value is
// every certificate.
type CertQuery struct {
	State string // a prefix of the state: ok, waiting, issue, renew, ...
	After string // the last name of the previous page
	Limit int    // 0: no limit
}

func (q CertQuery) path() string {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return "/v1/certificates"
	}
	return "/v1/certificates?" + v.Encode()
}

// Page is where a page of the list sits in the whole.
type Page struct {
	Total int    // certificates that match the state filter
	Next  string // the After of the next page; "" on the last
}

var linkNext = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

// CertificatesPageJSON returns one page of GET /v1/certificates as the
// daemon wrote it, and where it sits.
func (c *Client) CertificatesPageJSON(ctx context.Context, q CertQuery) ([]byte, Page, error) {
	resp, b, err := c.send(ctx, http.MethodGet, q.path(), "", nil)
	if err != nil {
		return nil, Page{}, err
	}
	if resp.StatusCode >= 300 {
		return nil, Page{}, statusError(resp, b)
	}
	p := Page{}
	p.Total, _ = strconv.Atoi(resp.Header.Get("X-Total-Count"))
	if m := linkNext.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
		if u, err := url.Parse(m[1]); err == nil {
			p.Next = u.Query().Get("after")
		}
	}
	return b, p, nil
}

// CertificateJSON returns GET /v1/certificates/{name} as the daemon wrote
// it; an unknown name is a *StatusError with Code 404.
func (c *Client) CertificateJSON(ctx context.Context, name string) ([]byte, error) {
	return c.call(ctx, http.MethodGet, "/v1/certificates/"+url.PathEscape(name), nil)
}

// Put writes the certificate name through PUT /v1/certificates/{name}. With
// wait > 0 the daemon answers once every HAProxy serves it, or after wait
// with code 202. code is 201 for a new certificate and 200 for a replaced
// one.
func (c *Client) Put(ctx context.Context, name string, req CertRequest, wait time.Duration) (st daemon.CertStatus, code int, err error) {
	body, err := json.Marshal(req)
	if err != nil {
		return st, 0, fmt.Errorf("admin API: %w", err)
	}
	path := "/v1/certificates/" + url.PathEscape(name)
	if wait > 0 {
		path += "?" + url.Values{"wait": {"served"}, "timeout": {wait.String()}}.Encode()
	}
	resp, b, err := c.send(ctx, http.MethodPut, path, "application/json", bytes.NewReader(body))
	if err != nil {
		return st, 0, err
	}
	if resp.StatusCode >= 300 {
		return st, resp.StatusCode, statusError(resp, b)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, resp.StatusCode, fmt.Errorf("admin API: %w", err)
	}
	return st, resp.StatusCode, nil
}

// Delete removes a certificate the admin API wrote.
func (c *Client) Delete(ctx context.Context, name string) error {
	_, err := c.call(ctx, http.MethodDelete, "/v1/certificates/"+url.PathEscape(name), nil)
	return err
}
