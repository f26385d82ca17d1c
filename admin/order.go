package admin

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/issuer"
)

// maxNames is the most names one order may carry (Let's Encrypt's limit).
const maxNames = 100

// oneShot is a validated POST /v1/orders.
type oneShot struct {
	accountKey, domainKey crypto.Signer
	domains               []string
}

// badInput is a 4xx answer that names the field at fault.
type badInput struct {
	status     int
	typ, field string
	detail     string
}

// order is the one-shot order: everything is checked before the CA is
// contacted, so that a bad request never places an order.
func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	if s.opt.NewClient == nil {
		writeProblem(w, http.StatusNotImplemented, probInternal, "", "one-shot orders are not enabled")
		return
	}
	in, bad := readOneShot(r, s.opt.MaxBody)
	if bad != nil {
		writeProblem(w, bad.status, bad.typ, bad.field, bad.detail)
		return
	}
	select {
	case s.orders <- struct{}{}:
		defer func() { <-s.orders }()
	default:
		w.Header().Set("Retry-After", "10")
		writeProblem(w, http.StatusTooManyRequests, probBadRequest, "", "too many one-shot orders at once; retry later")
		return
	}
	log := s.log.With("cert", in.domains[0], "remote", r.RemoteAddr)
	b, err := s.placeOrder(r, in)
	if err != nil {
		s.opt.Metrics.Order(in.domains[0], "failure", problemOf(err))
		log.Error("admin: one-shot order failed", "domains", in.domains, "err", err)
		status := http.StatusBadGateway
		if issuer.IsPermanent(err) {
			status = http.StatusUnprocessableEntity
		}
		writeProblem(w, status, probCA, "", err.Error())
		return
	}
	s.opt.Metrics.Order(in.domains[0], "success", "")
	log.Info("admin: one-shot order issued", "domains", in.domains, "serial", b.Leaf.SerialNumber.Text(16), "not_after", b.Leaf.NotAfter)
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", configs.CertificateName(in.domains[0])+".pem"))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(slices.Concat(b.CertPEM, b.KeyPEM))
}

func (s *Server) placeOrder(r *http.Request, in *oneShot) (*issuer.Bundle, error) {
	cli := s.opt.NewClient(in.accountKey)
	if _, err := cli.Register(r.Context()); err != nil {
		return nil, fmt.Errorf("one-shot order for %s: account: %w", in.domains[0], err)
	}
	return cli.Issue(r.Context(), issuer.Request{Name: in.domains[0], Domains: in.domains, Key: in.domainKey})
}

func problemOf(err error) string {
	var ie *issuer.Error
	if errors.As(err, &ie) && ie.Problem != "" {
		return ie.Problem
	}
	return "other"
}

func readOneShot(r *http.Request, limit int64) (*oneShot, *badInput) {
	if err := r.ParseMultipartForm(limit); err != nil {
		return nil, formError(err, limit)
	}
	defer r.MultipartForm.RemoveAll()
	f := r.MultipartForm
	in := &oneShot{}
	var bad *badInput
	if in.accountKey, bad = keyField(f, "account_key"); bad != nil {
		return nil, bad
	}
	if in.domainKey, bad = keyField(f, "domain_key"); bad != nil {
		return nil, bad
	}
	// The CA refuses it only at finalize (RFC 8555 section 11.1), after the order.
	if pub, ok := in.domainKey.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(in.accountKey.Public()) {
		return nil, &badInput{http.StatusBadRequest, probBadKey, "domain_key", "domain_key must not be the account key"}
	}
	if in.domains, bad = names(f); bad != nil {
		return nil, bad
	}
	return in, nil
}

func formError(err error, limit int64) *badInput {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || strings.Contains(err.Error(), "too large") {
		return bodyTooLarge(limit)
	}
	if errors.Is(err, http.ErrNotMultipart) || errors.Is(err, http.ErrMissingBoundary) {
		return &badInput{http.StatusUnsupportedMediaType, probBadRequest, "Content-Type",
			"send multipart/form-data (curl -F) with account_key, domain_key, domain and optional aliases"}
	}
	return &badInput{http.StatusBadRequest, probBadRequest, "body", "malformed multipart body: " + err.Error()}
}

// field reads a form value, sent either as a file (curl -F k=@file) or as text.
func field(f *multipart.Form, name string) ([]byte, bool, error) {
	if fhs := f.File[name]; len(fhs) > 0 {
		fh, err := fhs[0].Open()
		if err != nil {
			return nil, true, err
		}
		defer fh.Close()
		b, err := io.ReadAll(fh)
		return b, true, err
	}
	if vs := f.Value[name]; len(vs) > 0 {
		return []byte(vs[0]), true, nil
	}
	return nil, false, nil
}

func keyField(f *multipart.Form, name string) (crypto.Signer, *badInput) {
	b, ok, err := field(f, name)
	switch {
	case err != nil:
		return nil, &badInput{http.StatusBadRequest, probBadRequest, name, err.Error()}
	case !ok || len(strings.TrimSpace(string(b))) == 0:
		return nil, &badInput{http.StatusBadRequest, probMissing, name, name + " is required (a PEM private key)"}
	}
	k, err := issuer.ParseKey(b)
	switch {
	case errors.Is(err, issuer.ErrWeakKey), errors.Is(err, issuer.ErrUnsupportedKey):
		return nil, &badInput{http.StatusUnprocessableEntity, probWeakKey, name, name + ": " + err.Error()}
	case err != nil:
		return nil, &badInput{http.StatusBadRequest, probBadKey, name, name + ": " + err.Error()}
	}
	return k, nil
}

// names reads domain and aliases into the order's names, domain first,
// normalised and without duplicates.
func names(f *multipart.Form) ([]string, *badInput) {
	d, ok, err := field(f, "domain")
	if err != nil || !ok || strings.TrimSpace(string(d)) == "" {
		return nil, &badInput{http.StatusBadRequest, probMissing, "domain", "domain is required"}
	}
	all := []string{strings.TrimSpace(string(d))}
	fields := []string{"domain"}
	if a, _, _ := field(f, "aliases"); len(a) > 0 {
		for _, n := range strings.Split(string(a), ",") {
			if n = strings.TrimSpace(n); n != "" {
				all, fields = append(all, n), append(fields, "aliases")
			}
		}
	}
	var out []string
	for i, n := range all {
		ascii, err := configs.ValidDomain(n)
		if err == nil && strings.HasPrefix(ascii, "*.") {
			err = fmt.Errorf("%q: wildcards need dns-01, and one-shot orders use http-01", n)
		}
		if err != nil {
			return nil, &badInput{http.StatusBadRequest, probBadName, fields[i], err.Error()}
		}
		if !slices.Contains(out, ascii) {
			out = append(out, ascii)
		}
	}
	if len(out) > maxNames {
		return nil, &badInput{http.StatusBadRequest, probBadName, "aliases", fmt.Sprintf("at most %d names per order", maxNames)}
	}
	return out, nil
}
