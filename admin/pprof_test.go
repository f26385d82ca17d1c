package admin

import (
	"net/http"
	"strings"
	"testing"
)

func TestProfilesNeedTheToken(t *testing.T) {
	r := newRig(t)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		for _, tok := range []string{"", "not-the-token"} {
			if resp, body := r.do(t, http.MethodGet, path, tok, "", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d %s, want 401", path, tok, resp.StatusCode, body)
			}
		}
	}
	resp, body := r.do(t, http.MethodGet, "/debug/pprof/", testToken, "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "heap") {
		t.Fatalf("GET /debug/pprof/ with the token: %d %.200s", resp.StatusCode, body)
	}
	// A heap profile is a gzipped protobuf, which go tool pprof reads.
	resp, body = r.do(t, http.MethodGet, "/debug/pprof/heap", testToken, "", nil)
	if resp.StatusCode != http.StatusOK || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("GET /debug/pprof/heap with the token: %d, %d bytes, not gzip", resp.StatusCode, len(body))
	}
}
