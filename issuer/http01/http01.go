// Package http01 answers ACME http-01 challenges for the tokens of pending authorizations.
package http01

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	prefix      = "/.well-known/acme-challenge/"
	maxTokenLen = 256
)

// Responder serves key authorizations for pending tokens. It is safe for concurrent use.
type Responder struct {
	log *slog.Logger

	mu       sync.RWMutex
	tokens   map[string]string
	onResult func(result string)
	fallback func(token string) (keyAuth string, ok bool)
}

// New returns an empty Responder. A nil logger discards.
func New(logger *slog.Logger) *Responder {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Responder{log: logger, tokens: make(map[string]string)}
}

// Present makes the responder answer token with keyAuth until CleanUp.
func (r *Responder) Present(_ context.Context, token, keyAuth string) error {
	if !validToken(token) {
		return &TokenError{Token: token}
	}
	r.mu.Lock()
	r.tokens[token] = keyAuth
	r.mu.Unlock()
	return nil
}

// CleanUp stops answering token. Unknown tokens are not an error.
func (r *Responder) CleanUp(_ context.Context, token string) error {
	r.mu.Lock()
	delete(r.tokens, token)
	r.mu.Unlock()
	return nil
}

// OnRequest sets a hook called once per request with "hit", "miss" or "bad_request".
func (r *Responder) OnRequest(f func(result string)) {
	r.mu.Lock()
	r.onResult = f
	r.mu.Unlock()
}

// SetFallback makes the responder answer the tokens it does not hold from f,
// so that in a cluster any node answers a challenge another node presented.
// f must answer only for tokens of pending authorizations, and from memory:
// it runs on the request path, within the server's time limits. Its answer
// is served only when it is a key authorization for the token asked,
// "<token>.<thumbprint>"; anything else counts as a miss. nil removes it.
func (r *Responder) SetFallback(f func(token string) (keyAuth string, ok bool)) {
	r.mu.Lock()
	r.fallback = f
	r.mu.Unlock()
}

// ServeHTTP answers GET and HEAD for pending tokens under the challenge path, 404 otherwise.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, prefix)
	if !ok || !validToken(token) || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		r.report("bad_request")
		http.NotFound(w, req)
		return
	}
	keyAuth, found := r.keyAuth(token)
	if !found {
		r.report("miss")
		r.log.Debug("http-01 request for unknown token", "token", token, "remote", req.RemoteAddr)
		http.NotFound(w, req)
		return
	}
	r.report("hit")
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	if req.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, keyAuth)
}

// keyAuth finds token's key authorization here, or else from the fallback.
func (r *Responder) keyAuth(token string) (string, bool) {
	r.mu.RLock()
	keyAuth, found := r.tokens[token]
	fallback := r.fallback
	r.mu.RUnlock()
	if found || fallback == nil {
		return keyAuth, found
	}
	keyAuth, found = fallback(token)
	if !found {
		return "", false
	}
	if thumb, ok := strings.CutPrefix(keyAuth, token+"."); !ok || !validToken(thumb) {
		r.log.Warn("http-01 fallback answered with something other than a key authorization for the token", "token", token)
		return "", false
	}
	return keyAuth, true
}

func (r *Responder) report(result string) {
	r.mu.RLock()
	f := r.onResult
	r.mu.RUnlock()
	if f != nil {
		f(result)
	}
}

// Server returns an http.Server for addr with limits suited to a challenge endpoint that the
// whole internet can reach: tiny requests, short answers.
func (r *Responder) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           r,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
}

// TokenError reports a token outside the base64url alphabet or too long: such a token can
// never be requested by a CA, and refusing it keeps odd bytes out of logs and maps.
type TokenError struct{ Token string }

func (e *TokenError) Error() string {
	t := e.Token
	if len(t) > 32 {
		t = t[:32] + "..."
	}
	return "http01: invalid token " + strings.ToValidUTF8(t, "?")
}

func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}
