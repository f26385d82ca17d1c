package configs

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// CredentialsVar is the variable systemd sets to the directory of a unit's
// credentials (LoadCredential=). A *_file path may start with
// ${CREDENTIALS_DIRECTORY}/ so that a secret reaches hotcert without being
// readable by its user anywhere else.
const CredentialsVar = "CREDENTIALS_DIRECTORY"

var credentialsRefs = []string{"${" + CredentialsVar + "}", "$" + CredentialsVar}

// expandCredentials replaces ${CREDENTIALS_DIRECTORY} in p when the variable
// is set. Unset (hotcert check run from a shell), p stays as written, and
// whoever reads it says why it cannot (NeedsCredentials).
func expandCredentials(p string) string {
	dir := os.Getenv(CredentialsVar)
	if dir == "" {
		return p
	}
	for _, ref := range credentialsRefs {
		p = strings.ReplaceAll(p, ref, dir)
	}
	return p
}

// NeedsCredentials tells whether p still names ${CREDENTIALS_DIRECTORY}:
// the variable was not set when the config was read.
func NeedsCredentials(p string) bool {
	for _, ref := range credentialsRefs {
		if strings.Contains(p, ref) {
			return true
		}
	}
	return false
}

// parseFileMode reads an octal file mode such as "0640" or "640".
func parseFileMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode such as \"0640\"", s)
	}
	return os.FileMode(m), nil
}

// checkFileMode accepts modes that keep a private key private: the owner
// may read, the group may at most read, others get nothing.
func checkFileMode(r *reporter, field, s string) {
	m, err := parseFileMode(s)
	switch {
	case err != nil:
		r.add(field, "%v", err)
	case m&0o400 == 0:
		r.add(field, "%s: the owner must be able to read it", s)
	case m&0o007 != 0:
		r.add(field, "%s gives other users access to private keys; use 0600, or 0640 with file_group", s)
	case m&0o030 != 0:
		r.add(field, "%s lets the group write or run private keys; the group may only read (0640)", s)
	}
}

// lookupGroups finds the group id of every haproxy[].file_group: a name
// that must exist on this host, or a number.
func (c *Config) lookupGroups(r *reporter) {
	for i := range c.HAProxy {
		h := &c.HAProxy[i]
		if h.FileGroup == "" {
			continue
		}
		field := indexPath("haproxy", i) + ".file_group"
		if gid, err := strconv.Atoi(h.FileGroup); err == nil && gid > 0 {
			// A number needs no name on this host: HAProxy may run in a
			// container whose groups this host does not list.
			h.FileGID = gid
			continue
		}
		g, err := user.LookupGroup(h.FileGroup)
		if err != nil {
			g, err = user.LookupGroupId(h.FileGroup)
		}
		if err != nil {
			r.add(field, "no group %q on this host", h.FileGroup)
			continue
		}
		gid, err := strconv.Atoi(g.Gid)
		switch {
		case err != nil:
			r.add(field, "group %q has the id %q, not a number", h.FileGroup, g.Gid)
		case gid == 0:
			// Root reads every file whatever its group, so group root
			// would only hide a mistake.
			r.add(field, "%q is group 0; root reads the files anyway: name the group HAProxy runs as", h.FileGroup)
		default:
			h.FileGID = gid
		}
	}
}
