package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCertificates runs the real binary (built without the race
// detector) against a real HAProxy that already serves n certificates, with
// their valid bundles in the state directory: no ACME is needed, except for
// new-edit-ms. The certificates are declared in one domains file (file) or
// one file each in domains_dir (dir; skipped by a binary without
// domains_dir). One iteration starts hotcert and reports
//
//	haproxy-startup-s  HAProxy's own start-up on the n certificates (once, before hotcert)
//	startup-s          start of hotcert until its first pass is done
//	rss-MB             hotcert's resident memory after the first pass (VmRSS)
//	touch-cpu-ms       CPU of an edit that changes nothing (the domains file, or one file of domains_dir, rewritten as it was) and the pass it asks for; median of 5
//	idle-cpu-pct       hotcert's CPU over 60 s with nothing changing, in % of one core (the verify passes every 30 s included)
//	pass-cpu-ms        that CPU divided by the passes it ran: a pass that changes nothing (absent when none ran)
//	edit-ms            an edit adding one certificate (issued earlier, kept in the store) until HAProxy serves it over TLS
//	new-edit-ms        (dir only) an edit adding a new certificate, ordered from Pebble, until served; median of 3
//	new-ca-ms          the CA's part of it, as hotcert logs the order's duration
//
// n=100000 runs only when -bench names it. HOTCERT_BENCH_PROFILE=DIR writes
// CPU profiles of the start-up (from the moment the admin API answers), of
// a no-change edit and of 65 idle seconds, and a heap profile after the
// first pass, into DIR.
//
//	go test -run '^$' -bench 'Certificates/file/n=10000$' -benchtime 1x -timeout 60m ./integration/
//	go test -run '^$' -bench 'Certificates/file/n=100000' -benchtime 1x -timeout 60m ./integration/
func BenchmarkCertificates(b *testing.B) {
	for _, l := range []layout{oneFile, fileEach} {
		for _, n := range []int{10_000, bigScale} {
			b.Run(fmt.Sprintf("%s/n=%d", l, n), func(b *testing.B) {
				needScale(b, n)
				b.Setenv("PEBBLE_VA_NOSLEEP", "1")
				benchScale(b, newScale(b, n, l))
			})
		}
	}
}

func benchScale(b *testing.B, s *scale) {
	h := s.lbs[0]
	b.ReportMetric(s.haproxyStart.Seconds(), "haproxy-startup-s")
	m := sums{}
	for i := range b.N {
		p, took := s.startProfiled(fmt.Sprintf("%s-n%d", s.layout, s.n))
		m["startup-s"] += took.Seconds()
		pid := p.cmd.Process.Pid
		rss := float64(procRSS(b, pid)) / (1 << 20)
		m["rss-MB"] += rss
		b.Logf("start-up %v, RSS %.0f MB", took.Round(time.Millisecond), rss)
		nothingDone(b, s.ca, p)
		api := s.adminAPI(b)
		if profileDir() != "" {
			profile(b, api, "heap", fmt.Sprintf("heap-%s-n%d.pprof", s.layout, s.n))
		}

		m["touch-cpu-ms"] += s.touchCPU(p)
		c, k := s.idle(api, pid)
		m["idle-cpu-pct"] += c.Seconds() / 60 * 100
		if k > 0 {
			m["pass-cpu-ms"] += float64(c.Milliseconds()) / k
		}

		if profileDir() != "" {
			stop := profileAsync(b, api, 20, fmt.Sprintf("cpu-touch-%s-n%d.pprof", s.layout, s.n))
			time.Sleep(2 * time.Second)
			s.touch()
			stop()
			stop = profileAsync(b, api, 65, fmt.Sprintf("cpu-idle-%s-n%d.pprof", s.layout, s.n))
			stop()
		}

		t1 := time.Now()
		s.add("extra")
		h.waitServed("extra.example.test", s.bundle(0, "extra"), 5*time.Minute)
		m["edit-ms"] += float64(time.Since(t1).Milliseconds())
		s.drop("extra") // for the next iteration
		s.waitPlaceholder("extra.example.test")

		if s.layout == fileEach {
			e, ca := s.newEdits(p, i)
			m["new-edit-ms"] += e
			m["new-ca-ms"] += ca
		}
		p.stop(b)
	}
	m.report(b)
}

// sums adds up each iteration's figures, to be reported as means.
type sums map[string]float64

func (m sums) report(b *testing.B) {
	for k, v := range m {
		b.ReportMetric(v/float64(b.N), k)
	}
}

// startProfiled is start, with a CPU profile of the start-up when
// profiles are asked for. It covers from the moment the admin API answers
// (the store has been listed once by then) for HOTCERT_BENCH_PROFILE_S
// seconds, or n/2,000 + 10.
func (s *scale) startProfiled(tag string) (*process, time.Duration) {
	if profileDir() == "" {
		return s.start()
	}
	t0 := time.Now()
	p := s.startLogged()
	secs := s.n/2000 + 10
	if v, err := strconv.Atoi(os.Getenv("HOTCERT_BENCH_PROFILE_S")); err == nil {
		secs = v
	}
	api := s.adminAPI(s.b)
	end := time.Now().Add(time.Duration(secs) * time.Second)
	wait := profileAsync(s.b, api, secs, "cpu-startup-"+tag+".pprof")
	waitLog(s.b, p, "first reconcile pass done", 15*time.Minute)
	took := time.Since(t0)
	s.refused(p)
	if end.Before(time.Now()) {
		s.b.Logf("the start-up profile ended before the first pass: raise HOTCERT_BENCH_PROFILE_S above %d", secs)
	}
	wait()
	return p, took
}

// touchCPU is the median CPU of five edits that change nothing, each with
// whatever pass it asks for.
func (s *scale) touchCPU(p *process) float64 {
	pid := p.cmd.Process.Pid
	// A binary that logs each load of the domains file must log each of
	// these; the settle alone would not tell a load from none.
	loads := p.count("domains file loaded")
	var cpu []float64
	for i := range 5 {
		c0 := settle(s.b, pid)
		s.touch()
		if s.layout == oneFile && loads > 0 {
			waitLogCount(s.b, p, "domains file loaded", loads+i+1, 5*time.Minute)
		}
		time.Sleep(500 * time.Millisecond) // past the watcher's debounce
		cpu = append(cpu, float64((settle(s.b, pid) - c0).Milliseconds()))
	}
	s.b.Logf("CPU of 5 edits that change nothing: %v ms", cpu)
	slices.Sort(cpu)
	return cpu[len(cpu)/2]
}

// idle is hotcert's CPU over 60 s with nothing changing, and how many
// passes it ran meanwhile (from the pass counter, read outside the
// window: at 100,000 certificates a scrape is itself costly). A daemon
// that runs no pass while nothing is due may report none; pass-cpu-ms is
// then left out.
func (s *scale) idle(api *adminClient, pid int) (time.Duration, float64) {
	passes0 := api.passes()
	c0 := settle(s.b, pid)
	time.Sleep(60 * time.Second)
	c := procCPU(s.b, pid) - c0
	passes := api.passes() - passes0
	s.b.Logf("idle minute: %v CPU, %v passes", c, passes)
	return c, passes
}

// newEdits adds three certificates never issued, one file each, each
// ordered from Pebble until served, and returns the median time and the
// CA's part of it, in ms.
func (s *scale) newEdits(p *process, iter int) (float64, float64) {
	var took, ca []float64
	for j := range 3 {
		name := fmt.Sprintf("new%d-%d", iter, j)
		t0 := time.Now()
		s.writeOne(name)
		s.lbs[0].waitServed(name+".example.test", s.bundle(0, name), 5*time.Minute)
		took = append(took, float64(time.Since(t0).Milliseconds()))
		ca = append(ca, float64(caTook(s.b, p, name).Milliseconds()))
	}
	s.b.Logf("new certificate by edit until served: %v ms, CA: %v ms", took, ca)
	return median(took), median(ca)
}

func (s *scale) waitPlaceholder(sni string) {
	deadline := time.Now().Add(5 * time.Minute)
	for servesPlaceholder(s.lbs[0], sni) != nil {
		if time.Now().After(deadline) {
			s.b.Fatalf("%s was not removed", sni)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkCertificatePut measures the admin API's PUT
// /v1/certificates/{name} of a new certificate until HAProxy serves it over
// TLS, with n certificates already served (one file each in domains_dir),
// against Pebble with PEBBLE_VA_NOSLEEP=1. One iteration puts five in turn
// and reports medians:
//
//	put-ms        until the answer
//	served-ms     until served over TLS, looked at every 5 ms
//	ca-ms         the CA's part, as hotcert logs the order's duration
//	served-ca-ms  served-ms less ca-ms: hotcert's own part
//	pushed-ca-ms  by hotcert's log, from the file written to the pushed
//	              certificate's action done, less ca-ms: the same without
//	              the client's polling
//
// It skips when the binary lacks domains_dir or the endpoint. n=100000 runs
// only when -bench names it.
//
//	go test -run '^$' -bench 'CertificatePut/n=1000$'  -benchtime 1x -timeout 60m ./integration/
//	go test -run '^$' -bench 'CertificatePut/n=100000' -benchtime 1x -timeout 60m ./integration/
func BenchmarkCertificatePut(b *testing.B) {
	for _, n := range []int{1_000, bigScale} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			needScale(b, n)
			b.Setenv("PEBBLE_VA_NOSLEEP", "1")
			s := newScale(b, n, fileEach)
			m := sums{}
			for i := range b.N {
				p, _ := s.start()
				a, sv, c, pu := s.puts(p, i)
				m["put-ms"] += median(a)
				m["served-ms"] += median(sv)
				m["ca-ms"] += median(c)
				for j := range sv {
					sv[j] -= c[j]
					pu[j] -= c[j]
				}
				m["served-ca-ms"] += median(sv)
				m["pushed-ca-ms"] += median(pu)
				p.stop(b)
			}
			m.report(b)
		})
	}
}

// puts puts five new certificates in turn and returns, in ms, the time to
// each answer, to each being served, the CA's part, and hotcert's own
// span from the file written to the push done.
func (s *scale) puts(p *process, iter int) (answer, served, ca, pushed []float64) {
	b := s.b
	api := s.adminAPI(b)
	if profileDir() != "" {
		// An execution trace of the five: where a PUT's time goes that is
		// neither CPU nor the CA (fsyncs, locks, the collector).
		defer pprofAsync(b, api, "trace", 3, fmt.Sprintf("trace-put-n%d.out", s.n))()
		time.Sleep(100 * time.Millisecond) // let the trace begin
	}
	for j := range 5 {
		name := fmt.Sprintf("put%d-%d", iter, j)
		body := fmt.Sprintf(`{"domains": [%q]}`, name+".example.test")
		t0 := time.Now()
		code, _, out := api.do(http.MethodPut, "/v1/certificates/"+name, api.token, "application/json", strings.NewReader(body))
		if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
			b.Skipf("this hotcert has no PUT /v1/certificates/{name}: %d %s", code, out)
		}
		if code/100 != 2 {
			b.Fatalf("PUT /v1/certificates/%s: %d %s", name, code, out)
		}
		answer = append(answer, float64(time.Since(t0).Milliseconds()))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		_, err := s.lbs[0].WaitServedEvery(ctx, name+".example.test", s.bundle(0, name), 5*time.Millisecond)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		served = append(served, float64(time.Since(t0).Milliseconds()))
		ca = append(ca, float64(caTook(b, p, name).Milliseconds()))
		// HAProxy serves the certificate a moment before the order's "done"
		// is logged.
		done := `msg=done cert=` + name + ` action=issue`
		waitLog(b, p, done, time.Minute)
		pushed = append(pushed, float64(loggedSpan(b, p, name, `msg="admin: certificate written"`, done).Milliseconds()))
	}
	b.Logf("PUT answered: %v ms; served: %v ms; CA: %v ms; written to pushed: %v ms", answer, served, ca, pushed)
	return answer, served, ca, pushed
}

// loggedSpan is the time between the first log line about name that holds
// from and the first later one that holds to, by the lines' own times.
func loggedSpan(b *testing.B, p *process, name, from, to string) time.Duration {
	b.Helper()
	var t0 time.Time
	for line := range strings.Lines(p.Logs()) {
		if !strings.Contains(line, " cert="+name+" ") && !strings.Contains(line, " cert="+name+"\n") {
			continue
		}
		at, ok := strings.CutPrefix(line, "time=")
		if !ok || len(at) < 24 {
			continue
		}
		when, err := time.Parse(time.RFC3339Nano, at[:strings.IndexByte(at, ' ')])
		if err != nil {
			b.Fatalf("log time in %q: %v", line, err)
		}
		switch {
		case t0.IsZero() && strings.Contains(line, from):
			t0 = when
		case !t0.IsZero() && strings.Contains(line, to):
			return when.Sub(t0)
		}
	}
	b.Fatalf("no log line %q then %q for %s", from, to, name)
	return 0
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	return v[len(v)/2]
}
