package configs

import (
	"regexp"
	"testing"
)

var asciiName = regexp.MustCompile(`^(\*\.)?[a-z0-9.-]+$`)

// FuzzValidDomain checks that whatever ValidDomain accepts is plain ASCII
// that cannot split an HAProxy command, and is already normalised.
func FuzzValidDomain(f *testing.F) {
	for _, s := range []string{"example.com", "*.Example.COM.", "bücher.example", "a b.example", "x\n.y", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := ValidDomain(in)
		if err != nil {
			return
		}
		if !asciiName.MatchString(out) || len(out) > MaxDomainLength {
			t.Fatalf("ValidDomain(%q) = %q", in, out)
		}
		if again, err := ValidDomain(out); err != nil || again != out {
			t.Fatalf("ValidDomain(%q) = %q, %v; not idempotent from %q", out, again, err, in)
		}
	})
}

// FuzzParseDomains checks that no input makes the parser panic, and that
// every problem it reports has a message.
func FuzzParseDomains(f *testing.F) {
	f.Add("certificates:\n  - domains: [a.example.com]\n    key_type: [rsa2048, ecdsa-p256]\n")
	f.Add("x-a: &a {challenge: dns-01}\ncertificates:\n  - <<: *a\n    domains: ['*.x.example']\n")
	f.Add("certificates: {a: [b, {c: d}]}\n")
	f.Fuzz(func(t *testing.T, in string) {
		_, err := ParseDomains("/d.yaml", []byte(in))
		if ps, ok := err.(Problems); ok {
			for _, p := range ps {
				if p.Msg == "" {
					t.Fatalf("problem without a message: %#v", p)
				}
			}
		}
	})
}
