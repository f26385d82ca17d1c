package main

import (
	"log/slog"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/atomicfile"
)

// removeLeftovers deletes the temporary files of writes that a kill cut
// short. It runs at start-up, before anything writes, in the directories
// hotcert writes to. A crt-list's directory is shared with HAProxy's own
// files, so there only the crt-lists' temporary files are removed.
func removeLeftovers(cfg *configs.Config, log *slog.Logger) {
	dirs := []string{filepath.Join(cfg.StateDir, "account")}
	certs, _ := filepath.Glob(filepath.Join(cfg.StateDir, "certs", "*"))
	dirs = append(dirs, certs...)
	lists := map[string][]string{} // crt-list dir -> crt-list names
	for _, h := range cfg.HAProxy {
		dirs = append(dirs, h.CertDir)
		lists[filepath.Dir(h.CrtList)] = append(lists[filepath.Dir(h.CrtList)], filepath.Base(h.CrtList))
	}
	// One directory per certificate: at 100,000 of them, listing one at a
	// time would be seconds of start-up.
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for dir := range work {
				removeTemps(dir, nil, log)
			}
		})
	}
	for _, dir := range dirs {
		work <- dir
	}
	close(work)
	wg.Wait()
	for dir, names := range lists {
		removeTemps(dir, func(target string) bool { return slices.Contains(names, target) }, log)
	}
}

func removeTemps(dir string, ours func(string) bool, log *slog.Logger) {
	removed, err := atomicfile.RemoveLeftovers(dir, ours)
	for _, p := range removed {
		log.Info("start-up: removed the temporary file of an interrupted write", "file", p)
	}
	if err != nil {
		log.Warn("start-up: remove leftover temporary files", "dir", dir, "err", err)
	}
}
