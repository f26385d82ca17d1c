package testca

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/letsencrypt/pebble/v2/wfe"
)

// Proxy is a TLS reverse proxy in front of the CA's ACME listener, trusted by the same
// RootsPEM. Pebble builds every URL it hands out from the request's Host, so a client that
// starts at Proxy.DirectoryURL sends all its later requests through the proxy too. Tests use
// it to see what a client signed, or to lose an answer after Pebble acted on the request.
type Proxy struct {
	DirectoryURL string

	srv    *http.Server
	target string
	client *http.Client
	hook   Hook
}

// Exchange is one request through the proxy, with Pebble's answer.
type Exchange struct {
	// Remote is the client's address (host:port of its connection), which
	// tells apart clients that share the proxy.
	Remote string
	// Local is the proxy's end of that connection.
	Local    string
	Method   string
	Path     string
	Body     []byte // the request's
	Status   int
	Header   http.Header // the answer's
	Response []byte
}

// Hook sees each exchange once Pebble answered; it may be called concurrently. Returning
// false drops the answer: the client's request fails without a response, as when the
// network fails after the CA acted.
type Hook func(*Exchange) bool

// NewProxy starts a proxy in front of c that shows every exchange to hook. Close stops it.
func (c *CA) NewProxy(hook Hook) (*Proxy, error) {
	p := &Proxy{target: strings.TrimSuffix(c.DirectoryURL, wfe.DirectoryPath), client: c.client, hook: hook}
	addr, err := c.serve(&p.srv, p, c.tls)
	if err != nil {
		return nil, err
	}
	p.DirectoryURL = "https://" + addr + wfe.DirectoryPath
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x, err := p.forward(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if !p.hook(x) {
		panic(http.ErrAbortHandler) // closes the connection (HTTP/1) or resets the stream (HTTP/2)
	}
	for k, v := range x.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(x.Status)
	_, _ = w.Write(x.Response)
}

// forward sends r to Pebble with the proxy's Host, so the URLs Pebble answers with, and the
// URL it expects in each JWS, name the proxy.
func (p *Proxy) forward(r *http.Request) (*Exchange, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	res, err := p.client.Do(out)
	if err != nil {
		return nil, fmt.Errorf("testca proxy: %w", err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("testca proxy: %w", err)
	}
	var local string
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		local = a.String()
	}
	return &Exchange{Remote: r.RemoteAddr, Local: local, Method: r.Method, Path: r.URL.Path, Body: body, Status: res.StatusCode,
		Header: res.Header, Response: answer}, nil
}
