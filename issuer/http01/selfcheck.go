package http01

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SelfCheck fetches challenge tokens through HAProxy's HTTP frontend, with the
// domain as Host, the way the CA will. A route that does not lead to hotcert
// is then found before the CA spends a validation on it (Let's Encrypt limits
// failed validations per name per hour).
type SelfCheck struct {
	frontend string // scheme://host:port
	addr     string // host:port, as messages name HAProxy
	client   *http.Client
	tries    int
	pause    time.Duration
}

const (
	checkTimeout = 2 * time.Second // per fetch: HAProxy answers a loopback request at once
	checkTries   = 3
	checkPause   = time.Second
)

// NewSelfCheck checks tokens through frontend, such as http://127.0.0.1:80.
func NewSelfCheck(frontend string) (*SelfCheck, error) {
	u, err := url.Parse(frontend)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("self-check: %q is not an http://host:port URL", frontend)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	tr := &http.Transport{
		Proxy:             nil, // the frontend is local; an HTTP_PROXY must not answer for it
		DialContext:       (&net.Dialer{Timeout: checkTimeout}).DialContext,
		DisableKeepAlives: true,
	}
	return &SelfCheck{
		frontend: "http://" + addr,
		addr:     addr,
		client: &http.Client{
			Transport: tr,
			Timeout:   checkTimeout,
			// A redirect is the answer to diagnose, not one to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		tries: checkTries,
		pause: checkPause,
	}, nil
}

// Check fetches token for domain and reports a *CheckError unless the body
// is keyAuth. It tries a few times within a few seconds: HAProxy applies a
// map change at once, but a reload or a cluster peer's token may lag.
func (s *SelfCheck) Check(ctx context.Context, domain, token, keyAuth string) error {
	var last error
	for try := range s.tries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(s.pause):
			}
		}
		last = s.fetch(ctx, domain, token, keyAuth)
		if last == nil || ctx.Err() != nil {
			return last
		}
	}
	return last
}

func (s *SelfCheck) fetch(ctx context.Context, domain, token, keyAuth string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.frontend+prefix+token, nil)
	if err != nil {
		return fmt.Errorf("self-check: %w", err)
	}
	req.Host = domain
	req.Header.Set("User-Agent", "hotcert self-check")
	e := &CheckError{Frontend: s.addr, Domain: domain, Token: token}
	res, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.Kind, e.Err = Unreachable, err
		return e
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, int64(len(keyAuth))+256))
	e.Status = res.StatusCode
	switch {
	case res.StatusCode >= 300 && res.StatusCode < 400:
		e.Kind, e.Location = Redirected, res.Header.Get("Location")
	case res.StatusCode != http.StatusOK:
		e.Kind = NoRoute
	case strings.TrimRight(string(body), " \t\r\n") != keyAuth:
		e.Kind, e.Body = WrongAnswer, string(body)
	default:
		return nil
	}
	return e
}
