package admin

import "net/http/pprof"

// profiles serves Go's runtime profiles under /debug/pprof/, so that a slow
// start or a costly pass at scale can be explained from the running binary
// (go tool pprof http://ADMIN/debug/pprof/profile?seconds=30). They need the
// token like every state-changing call: a profile names the program's code
// paths and costs CPU while it runs, which an anonymous caller must not get.
func (s *Server) profiles() {
	s.mux.HandleFunc("GET /debug/pprof/", s.auth(pprof.Index))
	s.mux.HandleFunc("GET /debug/pprof/cmdline", s.auth(pprof.Cmdline))
	s.mux.HandleFunc("GET /debug/pprof/profile", s.auth(pprof.Profile))
	s.mux.HandleFunc("GET /debug/pprof/symbol", s.auth(pprof.Symbol))
	s.mux.HandleFunc("GET /debug/pprof/trace", s.auth(pprof.Trace))
}
