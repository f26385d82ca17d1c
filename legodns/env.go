package legodns

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// envMu serialises constructions: the process environment is shared, and
// each construction must see its own settings and nobody else's.
var envMu sync.Mutex

// withEnv runs build with env set in the process environment and restores
// every variable it touched afterwards, whatever build returns.
func withEnv(env map[string]string, build func() error) error {
	envMu.Lock()
	defer envMu.Unlock()
	set, err := expandFiles(env)
	if err != nil {
		return err
	}
	restore := make(map[string]*string, len(set))
	defer func() {
		for k, old := range restore {
			if old == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *old)
			}
		}
	}()
	for k, v := range set {
		if old, ok := os.LookupEnv(k); ok {
			restore[k] = &old
		} else {
			restore[k] = nil
		}
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	return build()
}

// expandFiles adds NAME for every NAME_FILE in env that has no NAME
// beside it, read from the file as lego's env package reads it (trailing
// newlines trimmed). lego reads NAME_FILE itself for the variables it
// reads, but SDKs (AWS's, for one) read theirs without it.
func expandFiles(env map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	for k, path := range env {
		name, ok := strings.CutSuffix(k, "_FILE")
		if !ok || name == "" {
			continue
		}
		if _, given := env[name]; given {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			// A provider may take NAME_FILE as a path of its own (RFC2136_TSIG_FILE,
			// GCE_SERVICE_ACCOUNT_FILE); only a file that cannot be read is an error.
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if strings.ContainsRune(string(b), 0) {
			continue // a binary file (a keytab) is a path the provider reads, never a value
		}
		out[name] = strings.TrimRight(string(b), "\r\n")
	}
	return out, nil
}
