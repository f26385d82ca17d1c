package issuer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

func acmeErr(status int, problem string, h http.Header) *acme.Error {
	return &acme.Error{StatusCode: status, ProblemType: problemPrefix + problem, Detail: "detail of " + problem, Header: h}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
		problem   string
		retry     time.Duration
	}{
		{"unauthorized", acmeErr(403, "unauthorized", nil), true, "unauthorized", 0},
		{"rejectedIdentifier", acmeErr(400, "rejectedIdentifier", nil), true, "rejectedIdentifier", 0},
		{"caa", acmeErr(403, "caa", nil), true, "caa", 0},
		{"invalidProfile", acmeErr(400, "invalidProfile", nil), true, "invalidProfile", 0},
		{"unsupportedIdentifier", acmeErr(400, "unsupportedIdentifier", nil), true, "unsupportedIdentifier", 0},
		{"malformed", acmeErr(400, "malformed", nil), true, "malformed", 0},
		{"badCSR", acmeErr(400, "badCSR", nil), true, "badCSR", 0},
		{"badNonce", acmeErr(400, "badNonce", nil), false, "badNonce", 0},
		{"serverInternal", acmeErr(500, "serverInternal", nil), false, "serverInternal", 0},
		{"connection", acmeErr(400, "connection", nil), false, "connection", 0},
		{"incorrectResponse", acmeErr(403, "incorrectResponse", nil), false, "incorrectResponse", 0},
		{"5xx with a permanent type", acmeErr(503, "malformed", nil), false, "malformed", 0},
		{"rateLimited", acmeErr(429, "rateLimited", http.Header{"Retry-After": {"120"}}), false, "rateLimited", 2 * time.Minute},
		{"wrapped rateLimited", fmt.Errorf("order: %w", acmeErr(429, "rateLimited", http.Header{"Retry-After": {"30"}})), false, "rateLimited", 30 * time.Second},
		{"order error", &acme.OrderError{Status: "invalid", Problem: acmeErr(403, "caa", nil)}, true, "caa", 0},
		{"order error without problem", &acme.OrderError{Status: "invalid"}, false, "", 0},
		{"timeout", context.DeadlineExceeded, false, "", 0},
		{"net error", &net.OpError{Op: "dial", Err: errors.New("refused")}, false, "", 0},
		{"terms", ErrTermsNotAccepted, true, "", 0},
		{"weak key", fmt.Errorf("x: %w", ErrWeakKey), true, "", 0},
		{"unknown", errors.New("boom"), false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify("order", "shop", "", tt.err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("classify returned %T", err)
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", !tt.permanent, tt.permanent)
			}
			if want := problemPrefix + tt.problem; tt.problem != "" && e.Problem != want {
				t.Errorf("Problem = %q, want %q", e.Problem, want)
			}
			d, ok := RetryAfter(err)
			if d != tt.retry || ok != (tt.retry > 0) {
				t.Errorf("RetryAfter = %s %v, want %s", d, ok, tt.retry)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("the original error is not reachable with errors.Is")
			}
			if !strings.Contains(err.Error(), "shop") {
				t.Errorf("message %q does not name the certificate", err)
			}
		})
	}
}

func TestClassifyNamesSubproblemDomain(t *testing.T) {
	ae := acmeErr(400, "rejectedIdentifier", nil)
	ae.Subproblems = []acme.Subproblem{{Type: ae.ProblemType, Identifier: &acme.AuthzID{Type: "dns", Value: "bad.example"}}}
	var e *Error
	if !errors.As(classify("order", "c", "", ae), &e) || e.Domain != "bad.example" {
		t.Fatalf("domain = %q, want bad.example", e.Domain)
	}
	if !strings.Contains(e.Error(), "bad.example") {
		t.Errorf("message %q does not name the domain", e)
	}
}

func TestAuthzFailedNamesDomainAndChallenge(t *testing.T) {
	z := &acme.Authorization{
		Status:     acme.StatusInvalid,
		Identifier: acme.AuthzID{Type: "dns", Value: "www.example.com"},
		Challenges: []*acme.Challenge{{Type: "http-01", Error: acmeErr(400, "connection", nil)}},
	}
	err := authzFailed(Request{Name: "shop"}, z)
	msg := err.Error()
	for _, want := range []string{"shop", "www.example.com", "http-01", "connection", "detail of connection"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if IsPermanent(err) {
		t.Error("a connection failure must be transient")
	}
}

func TestRetryBackoff(t *testing.T) {
	res := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	tests := []struct {
		name string
		n    int
		res  *http.Response
		want time.Duration
	}{
		{"badNonce at once", 1, res(400, ""), time.Millisecond},
		{"badNonce bounded", 21, res(400, ""), 0},
		{"429 honours short Retry-After", 1, res(429, "3"), 3 * time.Second},
		{"429 long Retry-After goes to caller", 1, res(429, "3600"), 0},
		{"429 bounded", 4, res(429, "1"), 0},
		{"5xx quick", 1, res(503, ""), 200 * time.Millisecond},
		{"5xx bounded", 4, res(500, ""), 0},
		{"other", 1, res(302, ""), 0},
	}
	for _, tt := range tests {
		if got := retryBackoff(tt.n, nil, tt.res); got != tt.want {
			t.Errorf("%s: retryBackoff = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// Let's Encrypt reports a challenge answered with 404, with the wrong content
// or with a TXT record not yet visible as "unauthorized". That is the state of
// the proxy or of DNS at one moment, so it must not stop renewal for good.
func TestAuthzFailedUnauthorizedValidationIsTransient(t *testing.T) {
	for _, typ := range []string{"http-01", "dns-01"} {
		z := &acme.Authorization{
			Status:     acme.StatusInvalid,
			Identifier: acme.AuthzID{Type: "dns", Value: "www.example.com"},
			Challenges: []*acme.Challenge{{Type: typ, Error: acmeErr(403, "unauthorized", nil)}},
		}
		err := authzFailed(Request{Name: "shop"}, z)
		if IsPermanent(err) {
			t.Errorf("%s: an unauthorized validation must be transient: %v", typ, err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Problem != problemPrefix+"unauthorized" {
			t.Errorf("%s: problem not kept: %v", typ, err)
		}
	}
	z := &acme.Authorization{
		Status:     acme.StatusInvalid,
		Identifier: acme.AuthzID{Type: "dns", Value: "www.example.com"},
		Challenges: []*acme.Challenge{{Type: "http-01", Error: acmeErr(403, "caa", nil)}},
	}
	if !IsPermanent(authzFailed(Request{Name: "shop"}, z)) {
		t.Error("a CAA refusal must stay permanent")
	}
}

// TestUnavailable: errors that say the CA is down or failing, and nothing
// about the certificate, are told apart from the rest.
func TestUnavailable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{acmeErr(500, "serverInternal", nil), true},
		{acmeErr(503, "malformed", nil), true},
		{context.DeadlineExceeded, true},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{context.Canceled, false},
		{acmeErr(429, "rateLimited", nil), false},
		{acmeErr(403, "unauthorized", nil), false},
		{errors.New("boom"), false},
	} {
		if got := IsUnavailable(classify("order", "shop", "", tt.err)); got != tt.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
