package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"testing"

	"github.com/hotcert/hotcert/daemon"
)

// manyStatuses are n statuses sorted by name; every third is waiting.
func manyStatuses(n int) []daemon.CertStatus {
	out := make([]daemon.CertStatus, n)
	for i := range out {
		st := "ok"
		if i%3 == 0 {
			st = "waiting: backoff"
		}
		out[i] = daemon.CertStatus{Name: fmt.Sprintf("cert-%06d", i), Domains: []string{fmt.Sprintf("c%d.example.test", i)},
			KeyTypes: []string{"ecdsa-p256"}, State: st, Serial: "abcdef0123456789", Loaded: map[string]string{"lb1": "abcdef0123456789"}}
	}
	return out
}

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// walk follows the Link headers from path and returns every name seen and
// each page's X-Total-Count.
func (r *rig) walk(t *testing.T, path string) (names []string, totals []int) {
	t.Helper()
	for path != "" {
		resp, body := r.do(t, http.MethodGet, path, "", "", nil)
		var list CertList
		if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, body)
		}
		for _, c := range list.Certificates {
			names = append(names, c.Name)
		}
		n, _ := strconv.Atoi(resp.Header.Get("X-Total-Count"))
		totals = append(totals, n)
		path = ""
		if l := resp.Header.Get("Link"); l != "" {
			m := nextLink.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("Link %q", l)
			}
			path = m[1]
		}
	}
	return names, totals
}

func TestCertificatesPagesAndFilter(t *testing.T) {
	r := newRig(t)
	r.d.certs = manyStatuses(250)
	for _, tc := range []struct {
		query       string
		pages, want int
		first       string
	}{
		{"", 1, 250, "cert-000000"},
		{"?limit=100", 3, 250, "cert-000000"},
		{"?limit=100&state=waiting", 1, 84, "cert-000000"},
		{"?limit=50&state=ok", 4, 166, "cert-000001"},
		{"?limit=100&after=cert-000199", 1, 50, "cert-000200"},
		{"?state=remove", 1, 0, ""},
	} {
		names, totals := r.walk(t, "/v1/certificates"+tc.query)
		if len(totals) != tc.pages || len(names) != tc.want || (tc.want > 0 && names[0] != tc.first) {
			t.Errorf("%s: %d pages, %d names from %v", tc.query, len(totals), len(names), names[:min(1, len(names))])
		}
		for i := 1; i < len(names); i++ {
			if names[i] <= names[i-1] {
				t.Fatalf("%s: %s after %s", tc.query, names[i], names[i-1])
			}
		}
		wantTotal := map[string]int{"waiting": 84, "ok": 166, "remove": 0}
		for _, n := range totals {
			q, _ := url.ParseQuery(tc.query[min(1, len(tc.query)):])
			want, ok := wantTotal[q.Get("state")]
			if !ok {
				want = 250
			}
			if n != want {
				t.Errorf("%s: X-Total-Count %d, want %d", tc.query, n, want)
			}
		}
	}
}

func TestCertificatesBadLimit(t *testing.T) {
	r := newRig(t)
	for _, l := range []string{"0", "-1", "ten", "1.5"} {
		resp, body := r.do(t, http.MethodGet, "/v1/certificates?limit="+l, "", "", nil)
		if p := problemDoc(t, resp, body); resp.StatusCode != 400 || p.Field != "limit" {
			t.Errorf("limit=%s: %d %s", l, resp.StatusCode, body)
		}
	}
}

func TestCertificateOne(t *testing.T) {
	r := newRig(t)
	resp, body := r.do(t, http.MethodGet, "/v1/certificates/shop", "", "", nil)
	if st := statusOf(t, body); resp.StatusCode != 200 || st.Name != "shop" || st.Loaded["lb1"] != "ab" {
		t.Fatalf("one certificate: %d %s", resp.StatusCode, body)
	}
	resp, body = r.do(t, http.MethodGet, "/v1/certificates/nope", "", "", nil)
	if p := problemDoc(t, resp, body); resp.StatusCode != 404 || p.Field != "name" || p.Type != probNotFound {
		t.Fatalf("unknown certificate: %d %s", resp.StatusCode, body)
	}
}

// BenchmarkCertificatesPage is one page of 100 from 100,000 certificates,
// filtered by state: the handler's cost (query, JSON, headers) over a fake
// daemon that counts the matches in a sorted slice. The real daemon's
// StatusPage, a scan of its map, is daemon's BenchmarkStatusPage.
func BenchmarkCertificatesPage(b *testing.B) {
	d := &fakeDaemon{certs: manyStatuses(100000)}
	h := New(Options{Daemon: d, Token: testToken}).Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/certificates?state=ok&limit=100&after=cert-050000", nil))
		if rec.Code != 200 || rec.Header().Get("Link") == "" {
			b.Fatal(rec.Code, rec.Header())
		}
		io.Discard.Write(rec.Body.Bytes())
	}
}
