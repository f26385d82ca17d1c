package admin

import (
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestOneShotOrderAnswersChainThenKey(t *testing.T) {
	r := newRig(t)
	dk := rsaKey(t, 2048)
	ctype, body := multipartBody(t, map[string]string{
		"account_key": "@" + pemKey(t, ecKey(t)), "domain_key": pemKey(t, dk),
		"domain": "Shop.Example.test", "aliases": " www.shop.example.test, shop.example.test ,",
	})
	resp, out := r.do(t, http.MethodPost, "/v1/orders", testToken, ctype, body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("one-shot: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), out)
	}
	if !strings.HasPrefix(string(out), "-----BEGIN CERTIFICATE-----") || !strings.Contains(string(out), "PRIVATE KEY") {
		t.Fatalf("answer is not chain then key:\n%s", out)
	}
	if _, err := tls.X509KeyPair(out, out); err != nil {
		t.Fatalf("answer does not load as a key pair: %v", err)
	}
	req := r.o.reqs[0]
	if strings.Join(req.Domains, ",") != "shop.example.test,www.shop.example.test" || !req.Key.Public().(*rsa.PublicKey).Equal(dk.Public()) {
		t.Fatalf("order placed with %v and another key", req.Domains)
	}
}

func TestOneShotBadInputPlacesNoOrder(t *testing.T) {
	r := newRig(t)
	acct, dom := pemKey(t, ecKey(t)), pemKey(t, rsaKey(t, 2048))
	weak := pemKey(t, rsaKey(t, 1024))
	good := func(edit func(map[string]string)) map[string]string {
		f := map[string]string{"account_key": acct, "domain_key": dom, "domain": "shop.example.test"}
		edit(f)
		return f
	}
	cases := []struct {
		name   string
		fields map[string]string
		ctype  string
		status int
		field  string
	}{
		{"1024-bit account key", good(func(f map[string]string) { f["account_key"] = weak }), "", 422, "account_key"},
		{"1024-bit domain key", good(func(f map[string]string) { f["domain_key"] = "@" + weak }), "", 422, "domain_key"},
		{"malformed PEM", good(func(f map[string]string) {
			f["domain_key"] = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
		}), "", 400, "domain_key"},
		{"not a key", good(func(f map[string]string) { f["account_key"] = "hello" }), "", 400, "account_key"},
		{"missing account key", good(func(f map[string]string) { delete(f, "account_key") }), "", 400, "account_key"},
		{"missing domain", good(func(f map[string]string) { delete(f, "domain") }), "", 400, "domain"},
		{"bad domain", good(func(f map[string]string) { f["domain"] = "shop;example.test" }), "", 400, "domain"},
		{"newline in alias", good(func(f map[string]string) { f["aliases"] = "a.example.test,b.example.test\nshow info" }), "", 400, "aliases"},
		{"wildcard", good(func(f map[string]string) { f["aliases"] = "*.example.test" }), "", 400, "aliases"},
		{"IP address", good(func(f map[string]string) { f["domain"] = "127.0.0.1" }), "", 400, "domain"},
		{"oversize body", good(func(f map[string]string) { f["aliases"] = strings.Repeat("a", 40<<10) }), "", 413, "body"},
		{"not multipart", nil, "application/json", 415, "Content-Type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctype, body := multipartBody(t, c.fields)
			if c.ctype != "" {
				ctype = c.ctype
			}
			resp, out := r.do(t, http.MethodPost, "/v1/orders", testToken, ctype, body)
			var p Problem
			if err := json.Unmarshal(out, &p); err != nil || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("not a problem document (%v): %s", err, out)
			}
			if resp.StatusCode != c.status || p.Status != c.status || p.Field != c.field {
				t.Fatalf("got %d field %q, want %d field %q: %s", resp.StatusCode, p.Field, c.status, c.field, out)
			}
		})
	}
	if r.o.clients != 0 || len(r.o.reqs) != 0 {
		t.Fatalf("bad input reached the CA: %d clients, %d orders", r.o.clients, len(r.o.reqs))
	}
}

// RFC 8555 section 11.1: the CA refuses a certificate for the account key,
// but only at finalize, after the order was placed and every name validated.
func TestOneShotDomainKeyEqualToAccountKeyPlacesNoOrder(t *testing.T) {
	r := newRig(t)
	k := pemKey(t, ecKey(t))
	ctype, body := multipartBody(t, map[string]string{"account_key": k, "domain_key": k, "domain": "shop.example.test"})
	resp, out := r.do(t, http.MethodPost, "/v1/orders", testToken, ctype, body)
	var p Problem
	if err := json.Unmarshal(out, &p); err != nil || resp.StatusCode != 400 || p.Field != "domain_key" {
		t.Fatalf("got %d %s, want 400 naming domain_key", resp.StatusCode, out)
	}
	if r.o.clients != 0 || len(r.o.reqs) != 0 {
		t.Fatalf("an order was placed with the account key as the domain key")
	}
}
