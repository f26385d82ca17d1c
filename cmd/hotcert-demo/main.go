// Command hotcert-demo runs hotcert's main job on an embedded default: a
// local HAProxy on unprivileged loopback ports and an in-process Pebble as
// the CA. It issues certificates for a few example names, shows HAProxy
// serving them, and cleans everything up on Ctrl-C. It never touches the
// system's own HAProxy service or /etc/haproxy.
//
// With --nodes 3 it runs a cluster instead: one etcd, three HAProxy on
// 127.0.0.2, 127.0.0.3 and 127.0.0.4 (the same ports on each address, as
// load balancers behind one name have), a hotcert beside each, and Pebble
// resolving each demo name to one of the three, so that validations reach
// load balancers whose node did not place the order. It shows every node
// serving every certificate with one serial.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
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

// maxNodes keeps the cluster's addresses within 127.0.0.2-127.0.0.10.
const maxNodes = 9

func main() {
	bin := flag.String("hotcert", "", "hotcert binary (default: next to this program, then $PATH)")
	keep := flag.Bool("keep", false, "keep the demo's temporary directory")
	nodes := flag.Int("nodes", 1, fmt.Sprintf("1: one hotcert and HAProxy on 127.0.0.1; 2 to %d: a cluster on one etcd, node i on 127.0.0.(i+1)", maxNodes))
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, *bin, *nodes, *keep, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hotcert-demo:", err)
		os.Exit(1)
	}
}

// node is one hotcert and its HAProxy.
type node struct {
	name, addr string
	dir        string
	h          *lab.HAProxy
	cfg        string
	log        string
	cmd        *exec.Cmd
	done       chan error
}

func demo(ctx context.Context, bin string, nodes int, keep bool, out io.Writer) error {
	if nodes < 1 || nodes > maxNodes {
		return fmt.Errorf("--nodes %d: want 1 to %d", nodes, maxNodes)
	}
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
	addrs := []string{"127.0.0.1"}
	if nodes > 1 {
		addrs = addrs[:0]
		for i := range nodes {
			addrs = append(addrs, fmt.Sprintf("127.0.0.%d", i+2))
		}
	}
	// The same ports on every address: the CA validates on one HTTP port,
	// wherever a name resolves.
	var ports [4]int
	for i := range ports {
		if ports[i], err = lab.FreePortOn(addrs...); err != nil {
			return err
		}
	}
	httpsPort, httpPort, challengePort, adminPort := ports[0], ports[1], ports[2], ports[3]

	var etcd *lab.Etcd
	if nodes > 1 {
		if etcd, err = lab.NewEtcd(filepath.Join(dir, "etcd")); err != nil {
			return err
		}
		if err := etcd.Start(); err != nil {
			return err
		}
		defer etcd.Stop()
		fmt.Fprintf(out, "etcd (one member): %s\n", etcd.Endpoint())
	}
	var ns []*node
	for i, addr := range addrs {
		n := &node{name: "demo", addr: addr, dir: dir}
		if nodes > 1 {
			n.name = fmt.Sprintf("node%d", i+1)
			n.dir = filepath.Join(dir, n.name)
		}
		n.h, err = lab.New(filepath.Join(n.dir, "haproxy"), lab.Options{Addr: addr, HTTPSPort: httpsPort, HTTPPort: httpPort,
			Challenge: net.JoinHostPort(addr, strconv.Itoa(challengePort))})
		if err != nil {
			return err
		}
		if err := n.h.Start(); err != nil {
			return err
		}
		defer n.h.Stop()
		fmt.Fprintf(out, "HAProxy %s: https on %s:%d, http on %s:%d\n", n.h.Config, addr, httpsPort, addr, httpPort)
		ns = append(ns, n)
	}

	if os.Getenv("PEBBLE_VA_NOSLEEP") == "" {
		os.Setenv("PEBBLE_VA_NOSLEEP", "1") // a demo should not wait for Pebble's random sleeps
	}
	opts := testca.Options{HTTPPort: httpPort}
	if nodes > 1 {
		opts.Hosts = map[string]string{}
		for k, c := range demoCerts {
			for _, d := range c.domains {
				opts.Hosts[d] = addrs[k%len(addrs)]
			}
		}
	}
	ca, err := testca.Start(opts)
	if err != nil {
		return fmt.Errorf("start Pebble: %w", err)
	}
	defer ca.Close()
	fmt.Fprintf(out, "Pebble (in-process test CA): %s\n", ca.DirectoryURL)
	for k, c := range demoCerts {
		if nodes > 1 {
			fmt.Fprintf(out, "  %s resolves to %s (%s's load balancer)\n", c.sni, addrs[k%len(addrs)], ns[k%len(ns)].name)
		}
	}

	var domains string
	for _, n := range ns {
		var cluster string
		if etcd != nil {
			cluster = clusterSection(n.name, etcd.Endpoint())
		}
		if n.cfg, domains, err = writeFiles(n, ca, challengePort, adminPort, cluster); err != nil {
			return err
		}
	}
	return runHotcert(ctx, bin, ns, ca, domains, out)
}

// runHotcert starts every node's hotcert, shows what each HAProxy serves,
// and waits for Ctrl-C.
func runHotcert(ctx context.Context, bin string, ns []*node, ca *testca.CA, domains string, out io.Writer) error {
	fmt.Fprintln(out)
	for _, n := range ns {
		if err := n.start(bin); err != nil {
			stopAll(ns)
			return err
		}
		defer n.stop()
		fmt.Fprintf(out, "hotcert %s running (pid %d), config %s, log %s\n", n.name, n.cmd.Process.Pid, n.cfg, n.log)
	}
	fmt.Fprintln(out)
	if err := showServed(ctx, ns, out); err != nil {
		return err
	}
	if len(ns) > 1 {
		fmt.Fprintf(out, "\nEvery node serves every certificate with one serial; Pebble saw %d orders for %d certificates (blog is two: ECDSA and RSA).\n",
			ca.Orders(), len(demoCerts))
	}
	h := ns[0].h
	fmt.Fprintf(out, "\nSee it yourself:\n  openssl s_client -connect %s:%d -servername shop.demo.test </dev/null 2>/dev/null | openssl x509 -noout -serial -issuer -ext subjectAltName\n", h.Addr, h.HTTPSPort)
	if len(ns) > 1 {
		fmt.Fprintf(out, "(and the same on %s, %s: the other nodes' addresses).\n", ns[1].addr, ns[len(ns)-1].addr)
		fmt.Fprintf(out, "Each node has its own domains file, %s being %s's.\n", domains, ns[len(ns)-1].name)
	}
	fmt.Fprintf(out, "Add a certificate by editing %s (hotcert follows the file, HAProxy never reloads).\nPress Ctrl-C to stop.\n", domains)
	anyDone := make(chan error, len(ns))
	for _, n := range ns {
		go func(n *node) {
			err := <-n.done
			n.done <- err
			anyDone <- fmt.Errorf("hotcert %s exited: %v (see %s)", n.name, err, n.log)
		}(n)
	}
	select {
	case <-ctx.Done():
	case err := <-anyDone:
		return err
	}
	fmt.Fprintln(out, "\nstopping hotcert, HAProxy and Pebble")
	return stopAll(ns)
}

func (n *node) start(bin string) error {
	n.log = filepath.Join(filepath.Dir(n.cfg), "hotcert.log")
	logf, err := os.Create(n.log)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	n.cmd = exec.Command(bin, "run", "--config", n.cfg)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C goes to us; we stop hotcert cleanly
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start hotcert %s: %w", n.name, err)
	}
	n.done = make(chan error, 1)
	go func() { n.done <- n.cmd.Wait() }()
	return nil
}

// stop sends SIGTERM and waits 15 s for hotcert to exit, then kills it.
func (n *node) stop() error {
	if n.cmd == nil {
		return nil
	}
	select {
	case err := <-n.done: // exited already; runHotcert said so
		n.done <- err
		return nil
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.done:
		n.done <- err
		return err
	case <-time.After(15 * time.Second):
		n.cmd.Process.Kill()
		return fmt.Errorf("hotcert %s did not stop within 15 s", n.name)
	}
}

func stopAll(ns []*node) error {
	var errs []error
	for _, n := range ns {
		errs = append(errs, n.stop())
	}
	return errors.Join(errs...)
}

// showServed waits until every node's HAProxy serves every demo
// certificate, and prints them; in a cluster it also checks that the
// nodes serve one serial per certificate.
func showServed(ctx context.Context, ns []*node, out io.Writer) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	exited := make(chan error, len(ns))
	for _, n := range ns {
		go func() {
			select {
			case err := <-n.done:
				n.done <- err
				exited <- fmt.Errorf("hotcert %s exited: %v: %s(see %s)", n.name, err, lastLine(n.log), n.log)
				cancel()
			case <-wctx.Done():
			}
		}()
	}
	row := func(node string, cols ...any) {
		if len(ns) > 1 {
			fmt.Fprintf(out, "%-6s ", node)
		}
		fmt.Fprintf(out, "%-6s %-20s %-34s %s\n", cols...)
	}
	row("NODE", "NAME", "SNI", "SERIAL SERVED BY HAPROXY", "ISSUER")
	first := map[string]string{}
	for _, c := range demoCerts {
		for _, n := range ns {
			leaf, err := n.h.WaitServed(wctx, c.sni, filepath.Join(n.h.CertDir, c.name+".pem"))
			select {
			case exit := <-exited:
				return exit
			default:
			}
			if err != nil {
				return fmt.Errorf("%s: %w (see %s)", n.name, err, n.log)
			}
			serial := fmt.Sprintf("%x", leaf.SerialNumber)
			row(n.name, c.name, c.sni, serial, leaf.Issuer.CommonName)
			if s, ok := first[c.name]; ok && s != serial {
				return fmt.Errorf("%s serves %s with serial %s, %s with %s", ns[0].name, c.name, s, n.name, serial)
			}
			first[c.name] = serial
		}
	}
	return nil
}

// lastLine is the last line of a log file and its newline, or nothing.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1] + "\n"
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
