package configs

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// MaxDomainLength is the longest name DNS can carry, in ASCII form.
const MaxDomainLength = 253

// ValidDomain checks one domain name, optionally a wildcard "*.example.com",
// and returns its normalised ASCII form: lower case, IDNA (punycode), no
// trailing dot. Names end up in CSRs and in HAProxy CLI commands, so
// anything that could split a command (whitespace, ';', control characters)
// is refused before any other processing.
func ValidDomain(name string) (ascii string, err error) {
	if name == "" {
		return "", errors.New("empty domain name")
	}
	if i := strings.IndexFunc(name, unsafeRune); i >= 0 {
		return "", fmt.Errorf("%q: must not contain %q", name, []rune(name[i:])[0])
	}
	host, wildcard := strings.CutPrefix(strings.TrimSuffix(name, "."), "*.")
	if strings.Contains(host, "*") {
		return "", fmt.Errorf("%q: a wildcard is allowed only as the whole leftmost label, as in *.example.com", name)
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		return "", fmt.Errorf("%q: IP addresses are not supported, only domain names", name)
	}
	a, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", fmt.Errorf("%q: not a valid internationalised domain name: %w", name, err)
	}
	if err := checkLabels(a); err != nil {
		return "", fmt.Errorf("%q: %w", name, err)
	}
	if wildcard {
		a = "*." + a
	}
	if len(a) > MaxDomainLength {
		return "", fmt.Errorf("%q: longer than %d characters", name, MaxDomainLength)
	}
	return a, nil
}

func unsafeRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == ';' || r == '/' || r == '\\' ||
		r == unicode.ReplacementChar
}

// checkLabels applies RFC 1123 to an ASCII name.
func checkLabels(name string) error {
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return errors.New("must have at least two labels, as in example.com")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return err
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errors.New("the last label must not be all digits")
	}
	return nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q must not start or end with '-'", l)
	}
	for _, c := range []byte(l) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q may contain only letters, digits and '-'", l)
		}
	}
	return nil
}

// CertificateName is the default certificate name for a first domain: the
// domain itself, with a leading "*." turned into "_." so that it is a
// usable file name.
func CertificateName(firstDomain string) string {
	if rest, ok := strings.CutPrefix(firstDomain, "*."); ok {
		return "_." + rest
	}
	return firstDomain
}
