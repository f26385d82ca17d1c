package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hotcert/hotcert/catalog"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/importer"
	"github.com/hotcert/hotcert/store"
)

// cmdImport adopts certificates that certbot, or anything that writes PEM
// bundles for HAProxy, issued, so that moving to hotcert orders nothing
// until each is due. It writes the state directory while the daemon is
// stopped: the daemon is its only writer and keeps it in memory.
func cmdImport(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("import", stderr)
	from := fs.String("from", "", "what DIR is: certbot (a certbot config directory, such as /etc/letsencrypt) or pem (bundles as HAProxy loads them)")
	dry := fs.Bool("dry-run", false, "say what would be imported, and write nothing")
	pos, err := parseArgs(fs, args, stdout, 1, 1)
	if err != nil {
		return err
	}
	read := map[string]func(string) ([]importer.Found, error){"certbot": importer.Certbot, "pem": importer.PEMDir}[*from]
	if read == nil {
		return badUsage(fs, stderr, fmt.Sprintf("--from %q: want certbot or pem", *from))
	}
	cfg, err := configs.LoadConfig(*cfgPath)
	if err != nil {
		report(stderr, err)
		return errReported
	}
	if cfg.Cluster != nil {
		return errors.New("cluster: is set, and a cluster node's certificates live in etcd, which import does not write; " +
			"import on the node before it joins (without cluster:): its first start in the cluster moves its state into etcd")
	}
	if err := refuseRunning(cfg); err != nil {
		return err
	}
	cat := catalog.New(catalog.Options{Config: cfg})
	if err := cat.Load(nil); err != nil {
		report(stderr, err)
		return errReported
	}
	doms := cat.Domains()
	found, err := read(pos[0])
	if err != nil {
		return err
	}
	st, err := importState(cfg.StateDir, *dry)
	if err != nil {
		return err
	}
	plan, err := importer.New(found, doms, st, importer.Options{Now: time.Now(), Directory: cfg.ACME.Directory, Jitter: rand.Float64})
	if err != nil {
		return err
	}
	applyErr := applyImport(plan, st, cfg.StateDir, *dry)
	printImport(stdout, plan, domainsLabel(cfg), *dry)
	if applyErr != nil || plan.Count(importer.Failed) > 0 {
		return errReported
	}
	return nil
}

// refuseRunning fails when the daemon answers on its admin address: a
// command that writes the state under a running daemon would be undone
// by its next write.
func refuseRunning(cfg *configs.Config) error {
	if c, err := net.DialTimeout("tcp", cfg.Admin.Listen, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("hotcert is running (admin API answers on %s); stop it first", cfg.Admin.Listen)
	}
	return nil
}

// importState opens the state directory; a dry run does not create it.
func importState(dir string, dry bool) (importer.Getter, error) {
	if _, err := os.Stat(dir); dry && errors.Is(err, os.ErrNotExist) {
		return noState{}, nil
	}
	return store.NewFile(dir)
}

type noState struct{}

func (noState) Get(name string) (*store.Record, error) {
	return nil, fmt.Errorf("load %s: %w", name, store.ErrNotFound)
}

func applyImport(plan *importer.Plan, st importer.Getter, stateDir string, dry bool) error {
	f, ok := st.(*store.File)
	if dry || !ok {
		return nil
	}
	err := plan.Apply(f)
	return errors.Join(err, ownLikeStateDir(stateDir, plan))
}

// ownLikeStateDir gives what root wrote to the state directory's owner:
// import runs as root to read /etc/letsencrypt, and the daemon runs as its
// own user, which must be able to read the keys.
func ownLikeStateDir(stateDir string, plan *importer.Plan) error {
	info, err := os.Stat(stateDir)
	if err != nil || os.Geteuid() != 0 {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	for name := range plan.Records {
		dir := filepath.Join(stateDir, "certs", name)
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(st.Uid), int(st.Gid))
		})
		if err != nil {
			return fmt.Errorf("give %s to the state directory's owner: %w", dir, err)
		}
	}
	return nil
}

func printImport(w io.Writer, plan *importer.Plan, domainsFile string, dry bool) {
	for _, o := range plan.Outcomes {
		fmt.Fprintln(w, o.String())
	}
	if s := plan.Suggestions(); s != "" {
		fmt.Fprintf(w, "\nNot in %s, and so not imported; to keep them, add these entries and import again:\n%s", domainsFile, s)
	}
	sum := plan.Summary()
	if dry {
		sum += " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "\n%s\n", sum)
}
