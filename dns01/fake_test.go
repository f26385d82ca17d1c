package dns01

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeDNS is a small authoritative server for some zones that applies RFC 2136 updates
// signed with its one TSIG key. It records every update so tests can see what was sent.
type fakeDNS struct {
	addr   string
	key    string // fqdn
	secret string
	zones  []string
	refuse bool // answer REFUSED to every update
	// servfail answers SERVFAIL to every query, as a primary does while its zone loads.
	servfail bool
	mu       sync.Mutex
	rrs      []dns.RR
	updates  []*dns.Msg
}

func startFake(t testing.TB, key, secret string, zones []string, records ...string) *fakeDNS {
	t.Helper()
	f := &fakeDNS{key: dns.Fqdn(key), secret: secret, zones: zones}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatal(err)
		}
		f.rrs = append(f.rrs, rr)
	}
	tcp, udp := listenPair(t)
	f.addr = tcp.Addr().String()
	secrets := map[string]string{f.key: secret}
	for _, srv := range []*dns.Server{
		{Listener: tcp, Handler: f, TsigSecret: secrets, MsgAcceptFunc: acceptAll},
		{PacketConn: udp, Handler: f, TsigSecret: secrets, MsgAcceptFunc: acceptAll},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return f
}

// acceptAll lets updates through: the default accept function answers them NOTIMP.
func acceptAll(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }

// listenPair binds TCP and UDP on one loopback port, as a DNS server must.
func listenPair(t testing.TB) (net.Listener, net.PacketConn) {
	t.Helper()
	for range 10 {
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		udp, err := net.ListenPacket("udp", tcp.Addr().String())
		if err == nil {
			return tcp, udp
		}
		tcp.Close()
	}
	t.Fatal("no free port for TCP and UDP")
	return nil, nil
}

func (f *fakeDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	switch {
	case r.Opcode == dns.OpcodeUpdate:
		f.update(w, r, m)
	case f.servfail:
		m.Rcode = dns.RcodeServerFailure
	default:
		f.answer(r.Question[0], m)
	}
	if r.IsTsig() != nil && w.TsigStatus() == nil {
		m.SetTsig(f.key, r.IsTsig().Algorithm, 300, time.Now().Unix())
	}
	w.WriteMsg(m)
}

func (f *fakeDNS) update(w dns.ResponseWriter, r, m *dns.Msg) {
	f.updates = append(f.updates, r.Copy())
	zone := r.Question[0].Name
	switch {
	case r.IsTsig() == nil || w.TsigStatus() != nil:
		m.Rcode = dns.RcodeNotAuth
		return
	case f.refuse:
		m.Rcode = dns.RcodeRefused
		return
	case !containsFold(f.zones, zone):
		m.Rcode = dns.RcodeNotZone
		return
	}
	for _, rr := range r.Ns {
		switch rr.Header().Class {
		case dns.ClassINET:
			if f.index(rr) < 0 {
				f.rrs = append(f.rrs, dns.Copy(rr))
			}
		case dns.ClassNONE:
			probe := dns.Copy(rr)
			probe.Header().Class = dns.ClassINET
			if i := f.index(probe); i >= 0 {
				f.rrs = append(f.rrs[:i], f.rrs[i+1:]...)
			}
		default: // ANY: a whole RRset or name; hotcert must never send it
			m.Rcode = dns.RcodeFormatError
		}
	}
}

func (f *fakeDNS) index(rr dns.RR) int {
	for i, have := range f.rrs {
		if dns.IsDuplicate(have, rr) {
			return i
		}
	}
	return -1
}

func (f *fakeDNS) answer(q dns.Question, m *dns.Msg) {
	zone := f.zoneOf(q.Name)
	if zone == "" {
		m.Rcode = dns.RcodeRefused
		return
	}
	m.Authoritative = true
	exists := false
	for _, rr := range f.rrs {
		h := rr.Header()
		if strings.EqualFold(h.Name, q.Name) {
			exists = true
			if h.Rrtype == q.Qtype || (h.Rrtype == dns.TypeCNAME && q.Qtype != dns.TypeCNAME) {
				m.Answer = append(m.Answer, rr)
			}
		} else if dns.IsSubDomain(q.Name, h.Name) {
			exists = true // an empty non-terminal
		}
	}
	if len(m.Answer) > 0 {
		f.glue(m)
		return
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	soa, _ := dns.NewRR(zone + " 60 IN SOA ns1." + zone + " admin." + zone + " 1 60 60 60 60")
	m.Ns = append(m.Ns, soa)
}

// glue adds the addresses of the NS hosts in the answer, A and AAAA, as BIND
// does for hosts in its zones.
func (f *fakeDNS) glue(m *dns.Msg) {
	for _, rr := range m.Answer {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		for _, a := range f.rrs {
			t := a.Header().Rrtype
			if strings.EqualFold(a.Header().Name, ns.Ns) && (t == dns.TypeA || t == dns.TypeAAAA) {
				m.Extra = append(m.Extra, a)
			}
		}
	}
}

// zoneOf is the longest of the served zones that contains name.
func (f *fakeDNS) zoneOf(name string) string {
	best := ""
	for _, z := range f.zones {
		if dns.IsSubDomain(z, name) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

// txt lists the TXT values at name.
func (f *fakeDNS) txt(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, rr := range f.rrs {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, name) {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

// updateZones lists the zone of every update received.
func (f *fakeDNS) updateZones() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, u := range f.updates {
		out = append(out, u.Question[0].Name)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
