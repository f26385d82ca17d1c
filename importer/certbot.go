package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Certbot reads a certbot config directory (such as /etc/letsencrypt):
// every lineage's live/NAME/fullchain.pem and privkey.pem (symlinks into
// archive/NAME/), and the CA that issued it from renewal/NAME.conf. The
// live files are read inside dir, not from the absolute paths the renewal
// conf holds, so that a copy of the directory can be imported too. An error
// is returned only when dir is not a certbot directory at all; each
// lineage's own problem is in its Found.
func Certbot(dir string) ([]Found, error) {
	live := filepath.Join(dir, "live")
	ents, err := os.ReadDir(live)
	if err != nil {
		return nil, fmt.Errorf("certbot directory %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			names = append(names, e.Name())
		}
	}
	confs, _ := filepath.Glob(filepath.Join(dir, "renewal", "*.conf"))
	for _, c := range confs {
		if n := strings.TrimSuffix(filepath.Base(c), ".conf"); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]Found, 0, len(names))
	for _, n := range names {
		out = append(out, certbotLineage(dir, n))
	}
	return out, nil
}

func certbotLineage(dir, name string) Found {
	lineage := filepath.Join(dir, "live", name)
	conf := filepath.Join(dir, "renewal", name+".conf")
	if _, err := os.Stat(lineage); err != nil {
		return Found{Source: lineage, Err: fmt.Errorf("%s names the lineage %s, but %w", conf, name, err)}
	}
	chainFile, keyFile := filepath.Join(lineage, "fullchain.pem"), filepath.Join(lineage, "privkey.pem")
	chain, err := readFile(chainFile)
	if err != nil {
		return Found{Source: lineage, Err: err}
	}
	key, err := readFile(keyFile)
	if err != nil {
		return Found{Source: lineage, Err: err}
	}
	f := parse(lineage, chainFile, chain, keyFile, key)
	f.Name = name
	f.Issuer, err = renewalServer(conf)
	if err != nil && f.Err == nil {
		f.Err = err
	}
	return f
}

// renewalServer is the ACME directory certbot renews a lineage from, the
// server key of its renewal conf; "" when there is no conf.
func renewalServer(conf string) (string, error) {
	b, err := os.ReadFile(conf)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(k) == "server" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", sc.Err()
}
