package lab

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// proc is a server the lab runs in the foreground: started, checked for
// readiness, killed.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs bin with args, its output to w (nil discards), and waits up
// to limit (10 s when zero) for ready to succeed; a server that is not
// ready by then is killed.
func (p *proc) start(what string, w io.Writer, limit time.Duration, ready func() error, bin string, args ...string) error {
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", what, err)
	}
	p.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(p.cmd, p.done)
	limit = cmp.Or(limit, 10*time.Second)
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) && p.running() {
		if err = ready(); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop()
	return fmt.Errorf("%s not ready within %s: %v", what, limit, err)
}

// running reports whether the process started last is still alive.
func (p *proc) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop kills the process (SIGKILL) and waits for it.
func (p *proc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		<-p.done
	}
}

// signal sends sig to the running process.
func (p *proc) signal(sig os.Signal) error {
	if !p.running() {
		return errors.New("not running")
	}
	return p.cmd.Process.Signal(sig)
}
