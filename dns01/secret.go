package dns01

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// algorithms maps the names used in hotcert.yaml (and BIND's key statement) to TSIG's.
var algorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// DefaultAlgorithm is used when Options.Algorithm is empty.
const DefaultAlgorithm = "hmac-sha256"

func tsigAlgorithm(name string) (string, error) {
	if name == "" {
		name = DefaultAlgorithm
	}
	alg, ok := algorithms[strings.TrimSuffix(strings.ToLower(name), ".")]
	if !ok {
		return "", fmt.Errorf("%w: tsig_algorithm %q is not one of hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha1", ErrBadConfig, name)
	}
	return alg, nil
}

// ReadSecret reads a TSIG secret file: the bare base64 secret, as in BIND's key statement,
// with surrounding whitespace ignored. Errors never contain the file's content.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: tsig_secret_file: %w", ErrBadConfig, err)
	}
	s := strings.TrimSpace(string(b))
	if err := checkSecret(s); err != nil {
		return "", fmt.Errorf("tsig_secret_file %s: %w", path, err)
	}
	return s, nil
}

func checkSecret(s string) error {
	if s == "" {
		return fmt.Errorf("%w: the TSIG secret is empty", ErrBadConfig)
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		// The decoder's message quotes an offset, not the content, but say nothing more.
		return fmt.Errorf("%w: the TSIG secret is not base64", ErrBadConfig)
	}
	return nil
}
