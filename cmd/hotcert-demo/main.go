// Command hotcert-demo runs hotcert's main job on an embedded default: a
// local HAProxy on unprivileged loopback ports and an in-process Pebble as
// the CA. It issues certificates for a few example names, shows HAProxy
// serving them, and cleans everything up on Ctrl-C. It never touches the
// system's own HAProxy service or /etc/haproxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
	"github.com/hotcert/hotcert/internal/testca"
)

type demoCert struct {
	name, sni, keyTypes string
	domains             []string
}

var demoCerts = []demoCert{
	{"shop", "shop.demo.test", "ecdsa-p256", []string{"shop.demo.test", "www.shop.demo.test"}},
	{"api", "api.demo.test", "rsa2048", []string{"api.demo.test"}},
	{"blog", "blog.demo.test", "[ecdsa-p256, rsa2048]", []string{"blog.demo.test"}},
}

func main() {
	bin := flag.String("hotcert", "", "hotcert binary (default: next to this program, then $PATH)")
	keep := flag.Bool("keep", false, "keep the demo's temporary directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, *bin, *keep, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hotcert-demo:", err)
		os.Exit(1)
	}
}

func demo(ctx context.Context, bin string, keep bool, out io.Writer) error {
	bin, err := findHotcert(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hotcert-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	challengePort, err := lab.FreePort()
	if err != nil {
		return err
	}
	h, err := lab.NewHAProxy(filepath.Join(dir, "haproxy"), challengePort)
	if err != nil {
		return err
	}
	if err := h.Start(); err != nil {
		return err
	}
	defer h.Stop()
	fmt.Fprintf(out, "HAProxy %s: https on 127.0.0.1:%d, http on 127.0.0.1:%d\n", h.Config, h.HTTPSPort, h.HTTPPort)

	if os.Getenv("PEBBLE_VA_NOSLEEP") == "" {
		os.Setenv("PEBBLE_VA_NOSLEEP", "1") // a demo should not wait for Pebble's random sleeps
	}
	ca, err := testca.Start(testca.Options{HTTPPort: h.HTTPPort})
	if err != nil {
		return fmt.Errorf("start Pebble: %w", err)
	}
	defer ca.Close()
	fmt.Fprintf(out, "Pebble (in-process test CA): %s\n", ca.DirectoryURL)

	cfg, domains, err := writeFiles(dir, h, ca, challengePort)
	if err != nil {
		return err
	}
	return runHotcert(ctx, bin, cfg, domains, h, out)
}

func runHotcert(ctx context.Context, bin, cfg, domains string, h *lab.HAProxy, out io.Writer) error {
	logPath := filepath.Join(filepath.Dir(cfg), "hotcert.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C goes to us; we stop hotcert cleanly
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start hotcert: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fmt.Fprintf(out, "hotcert running (pid %d), config %s, log %s\n\n", cmd.Process.Pid, cfg, logPath)

	if err := showServed(ctx, h, filepath.Dir(cfg), out, done); err != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		return err
	}
	fmt.Fprintf(out, "\nSee it yourself:\n  openssl s_client -connect 127.0.0.1:%d -servername shop.demo.test </dev/null 2>/dev/null | openssl x509 -noout -serial -issuer -ext subjectAltName\n", h.HTTPSPort)
	fmt.Fprintf(out, "Add a certificate by editing %s (hotcert follows the file, HAProxy never reloads).\nPress Ctrl-C to stop.\n", domains)
	select {
	case <-ctx.Done():
	case err := <-done:
		return fmt.Errorf("hotcert exited: %v (see %s)", err, logPath)
	}
	fmt.Fprintln(out, "\nstopping hotcert, HAProxy and Pebble")
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		return errors.New("hotcert did not stop within 15 s")
	}
}

func showServed(ctx context.Context, h *lab.HAProxy, dir string, out io.Writer, done <-chan error) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-wctx.Done():
		}
	}()
	fmt.Fprintf(out, "%-6s %-20s %-34s %s\n", "NAME", "SNI", "SERIAL SERVED BY HAPROXY", "ISSUER")
	for _, c := range demoCerts {
		leaf, err := h.WaitServed(wctx, c.sni, filepath.Join(h.CertDir, c.name+".pem"))
		if err != nil {
			return fmt.Errorf("%w (see %s)", err, filepath.Join(dir, "hotcert.log"))
		}
		fmt.Fprintf(out, "%-6s %-20s %-34x %s\n", c.name, c.sni, leaf.SerialNumber, leaf.Issuer.CommonName)
	}
	return nil
}

func findHotcert(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "hotcert")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("hotcert")
	if err != nil {
		return "", errors.New("hotcert binary not found: run make build, or pass --hotcert")
	}
	return p, nil
}
