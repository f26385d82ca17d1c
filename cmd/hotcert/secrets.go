package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hotcert/hotcert/configs"
)

// errNoCredentials: a *_file path names ${CREDENTIALS_DIRECTORY}, and the
// variable was not set when the config was read.
var errNoCredentials = errors.New("$" + configs.CredentialsVar +
	" is not set; systemd sets it for a unit with LoadCredential=")

// readSecretFile reads the secret held in path, which field names;
// surrounding whitespace, such as the newline editors add, is not part of it.
func readSecretFile(field, path string) (string, error) {
	if configs.NeedsCredentials(path) {
		return "", fmt.Errorf("%s %s: %w", field, path, errNoCredentials)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %s: empty", field, path)
	}
	return s, nil
}

// loadEABKey reads acme.eab.hmac_key_file into the config's hmac_key, the
// one place the issuer's options are built from.
func loadEABKey(cfg *configs.Config) error {
	path := cfg.ACME.EAB.HMACKeyFile
	if path == "" {
		return nil
	}
	key, err := readSecretFile("acme.eab.hmac_key_file", path)
	if err != nil {
		return err
	}
	if !configs.IsBase64URL(key) {
		return fmt.Errorf("acme.eab.hmac_key_file %s: must hold the key in base64url, as the CA shows it", path)
	}
	cfg.ACME.EAB.HMACKey = key
	return nil
}
