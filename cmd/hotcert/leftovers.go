package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hotcert/hotcert/configs"
)

// tempName is how atomicfile names a file it has not renamed into place
// yet: "." + the target's name + ".tmp" + random digits.
var tempName = regexp.MustCompile(`^\..+\.tmp[0-9]+$`)

// removeLeftovers deletes the temporary files of writes that a kill cut
// short. The files they were to replace are intact (the rename never
// happened), so this is tidying, not repair: it runs at start-up, before
// anything writes, in the directories hotcert writes to, and only touches
// names that atomicfile creates.
func removeLeftovers(cfg *configs.Config, log *slog.Logger) {
	dirs := []string{filepath.Join(cfg.StateDir, "account")}
	certs, _ := filepath.Glob(filepath.Join(cfg.StateDir, "certs", "*"))
	dirs = append(dirs, certs...)
	lists := map[string][]string{} // crt-list dir -> crt-list names
	for _, h := range cfg.HAProxy {
		dirs = append(dirs, h.CertDir)
		lists[filepath.Dir(h.CrtList)] = append(lists[filepath.Dir(h.CrtList)], filepath.Base(h.CrtList))
	}
	for _, dir := range dirs {
		removeTemps(dir, func(string) bool { return true }, log)
	}
	for dir, names := range lists {
		removeTemps(dir, func(n string) bool {
			for _, l := range names {
				if strings.HasPrefix(n, "."+l+".tmp") {
					return true
				}
			}
			return false
		}, log)
	}
}

func removeTemps(dir string, ours func(string) bool, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return // a missing directory holds no leftovers; using it will report it
	}
	for _, e := range ents {
		if e.Type().IsRegular() && tempName.MatchString(e.Name()) && ours(e.Name()) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err != nil {
				log.Warn("start-up: remove leftover temporary file", "file", p, "err", err)
				continue
			}
			log.Info("start-up: removed the temporary file of an interrupted write", "file", p)
		}
	}
}
