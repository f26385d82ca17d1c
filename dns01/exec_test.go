package dns01

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recorder is a Provider that keeps what it was asked to write; the tests
// call it from one goroutine.
type recorder struct {
	present []Record
	cleanup []Record
}

func (p *recorder) Present(_ context.Context, r Record) error {
	p.present = append(p.present, r)
	return nil
}

func (p *recorder) CleanUp(_ context.Context, r Record) error {
	p.cleanup = append(p.cleanup, r)
	return nil
}

// Without an rfc2136 primary the Solver asks the resolver, follows the
// CNAME there, and hands the provider the record's final name and zone.
func TestProviderGetsTheRecordAfterCNAMEsFromTheResolver(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test.", "delegated.test."},
		append(baseRecords, "_acme-challenge.www.example.test. 60 IN CNAME x.delegated.test.",
			"delegated.test. 60 IN NS ns1.example.test.")...)
	p := &recorder{}
	s, err := New(Options{Provider: p, Resolver: f.addr, QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := Challenge{Domain: "www.example.test", Token: "tok", KeyAuth: "tok.thumb", Value: "v"}
	if err := s.Present(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	want := Record{Domain: "www.example.test", FQDN: "x.delegated.test.", Zone: "delegated.test.",
		Value: "v", Token: "tok", KeyAuth: "tok.thumb"}
	if len(p.present) != 1 || p.present[0] != want || len(p.cleanup) != 1 || p.cleanup[0] != want {
		t.Fatalf("present %+v, cleanup %+v; want %+v", p.present, p.cleanup, want)
	}
	if len(f.updates) != 0 {
		t.Fatalf("the resolver got %d updates", len(f.updates))
	}
}

func TestExecRunsTheCommandAsLegoDoes(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hook")
	writeScript(t, script, `echo "$1 $2 $3 $ZONE_TOKEN" >> `+filepath.Join(dir, "calls"))
	e := Exec{Command: []string{script}, Env: []string{"ZONE_TOKEN=t0k"}, Timeout: time.Minute}
	r := Record{FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "v1"}
	if err := e.Present(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := e.CleanUp(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "calls"))
	want := "present _acme-challenge.example.test. v1 t0k\ncleanup _acme-challenge.example.test. v1 t0k\n"
	if string(b) != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", b, want)
	}
}

// A failing command is retried later: it is not permanent, and it says why.
func TestExecFailureIsTransientAndNamesExitStatusAndStderr(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	script := filepath.Join(t.TempDir(), "hook")
	writeScript(t, script, "echo 'api said no' >&2; exit 3")
	s, err := New(Options{Provider: Exec{Command: []string{script}, Timeout: time.Minute}, Resolver: f.addr})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"})
	var e *Error
	if !errors.As(err, &e) || e.Permanent() {
		t.Fatalf("err = %v, want a transient *Error", err)
	}
	for _, want := range []string{"_acme-challenge.www.example.test.", "exit status 3", "api said no"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
