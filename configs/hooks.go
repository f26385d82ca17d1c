package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Hooks are the operator's commands run on certificate events. Each is a
// command and its arguments, run without a shell.
type Hooks struct {
	Deployed []string `yaml:"deployed"` // after a new bundle is served by every HAProxy
	Failed   []string `yaml:"failed"`   // after an order failed
	// Timeout bounds one run; the process group is killed past it.
	Timeout Duration `yaml:"timeout"`
}

// DefaultHookTimeout is hooks.timeout when it is left out: the contract's
// limit.
const DefaultHookTimeout = Duration(60 * time.Second)

// Any reports whether a hook is configured.
func (h Hooks) Any() bool { return len(h.Deployed) > 0 || len(h.Failed) > 0 }

func (h *Hooks) applyDefaults() {
	if h.Timeout == 0 {
		h.Timeout = DefaultHookTimeout
	}
}

func (h *Hooks) validate(r *reporter) {
	checkCommand(r, "hooks.deployed", h.Deployed)
	checkCommand(r, "hooks.failed", h.Failed)
	if h.Timeout < 0 {
		r.add("hooks.timeout", "must be positive, not %s", h.Timeout)
	}
}

// checkCommand asks for a command that can be found now: an absolute path
// that exists, or a name found in PATH. A relative path would depend on
// the directory hotcert was started from.
func checkCommand(r *reporter, field string, cmd []string) {
	if len(cmd) == 0 {
		return
	}
	name := cmd[0]
	field = indexPath(field, 0)
	switch {
	case strings.TrimSpace(name) == "":
		r.add(field, "the command is empty")
	case filepath.IsAbs(name):
		if _, err := os.Stat(name); err != nil {
			r.add(field, "%s: %v", name, errorText(err))
		}
	case strings.ContainsRune(name, '/'):
		r.add(field, "%q must be an absolute path, or a command name found in PATH", name)
	default:
		if _, err := exec.LookPath(name); err != nil {
			r.add(field, "%q is not found in PATH (%s); give its absolute path", name, os.Getenv("PATH"))
		}
	}
}

func errorText(err error) string {
	if os.IsNotExist(err) {
		return "no such file"
	}
	return err.Error()
}

// warnings warns about a hook that exists but that hotcert cannot run.
func (h *Hooks) warnings(r *reporter) {
	for _, f := range []struct {
		field string
		cmd   []string
	}{{"hooks.deployed", h.Deployed}, {"hooks.failed", h.Failed}} {
		if len(f.cmd) == 0 || !filepath.IsAbs(f.cmd[0]) {
			continue
		}
		if st, err := os.Stat(f.cmd[0]); err == nil && (st.IsDir() || st.Mode()&0o111 == 0) {
			r.add(indexPath(f.field, 0), "warning: %s is not an executable file; the hook will fail", f.cmd[0])
		}
	}
}
