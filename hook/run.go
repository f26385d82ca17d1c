package hook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// passedOn are the variables of hotcert's own environment a hook gets.
// Nothing else is passed: credentials given to hotcert through its
// environment (a DNS provider's token, say) are not the hook's.
var passedOn = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Env is the environment a hook runs with for e.
func Env(e Event) []string {
	var env []string
	for _, k := range passedOn {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	notAfter := ""
	if !e.NotAfter.IsZero() {
		notAfter = e.NotAfter.UTC().Format(time.RFC3339)
	}
	env = append(env,
		"HOTCERT_EVENT="+e.Name,
		"HOTCERT_CERT="+e.Cert,
		"HOTCERT_DOMAINS="+strings.Join(e.Domains, ","),
		"HOTCERT_KEY_TYPE="+e.KeyType,
		"HOTCERT_SERIAL="+e.Serial,
		"HOTCERT_NOT_AFTER="+notAfter,
		"HOTCERT_BUNDLE="+e.Bundle,
	)
	if e.Name == Failed {
		env = append(env, "HOTCERT_ERROR="+e.Error)
	}
	return env
}

// run runs one hook and returns its result. ctx ends only when shutdown's
// grace is over; the time limit is run's own.
func (r *Runner) run(ctx context.Context, e Event) string {
	log := r.opt.Logger.With("cert", e.Cert, "event", e.Name)
	argv := r.opt.Commands[e.Name]
	limited, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	cmd := exec.CommandContext(limited, argv[0], argv[1:]...)
	cmd.Env = Env(e)
	cmd.Dir = "/"
	// Its own process group, so that the limit kills what the hook started
	// too: a shell script's sleep or curl, not only the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A process that left the group may hold its output open; stop waiting
	// for it soon after the group is gone.
	cmd.WaitDelay = time.Second
	var lastErr string
	out := &lineWriter{fn: func(l string) { log.Info("hook output", "stream", "stdout", "line", l) }}
	errs := &lineWriter{fn: func(l string) {
		log.Info("hook output", "stream", "stderr", "line", l)
		if strings.TrimSpace(l) != "" {
			lastErr = l
		}
	}}
	cmd.Stdout, cmd.Stderr = out, errs
	began := time.Now()
	if err := cmd.Start(); err != nil {
		log.Error("hook could not start", "command", argv[0], "err", err)
		return ResultFailed
	}
	err := cmd.Wait()
	out.flush()
	errs.flush()
	return r.outcome(log, limited, ctx, cmd.Process.Pid, err, lastErr, time.Since(began))
}

func (r *Runner) outcome(log *slog.Logger, limited, outer context.Context, pid int, err error, lastErr string, took time.Duration) string {
	var exit *exec.ExitError
	switch {
	case err == nil:
		log.Info("hook done", "took", took)
		return ResultOK
	case errors.Is(limited.Err(), context.DeadlineExceeded) && outer.Err() == nil:
		log.Error("hook killed at its limit", "limit", r.opt.Timeout, "pid", pid, "last_stderr", lastErr)
		return ResultTimeout
	case outer.Err() != nil:
		log.Error("hook killed: hotcert is stopping", "grace", r.opt.Grace, "pid", pid)
		return ResultFailed
	case errors.As(err, &exit):
		log.Error("hook failed", "exit", exit.ProcessState.String(), "last_stderr", lastErr, "took", took)
		return ResultFailed
	}
	log.Error("hook failed", "err", err, "last_stderr", lastErr, "took", took)
	return ResultFailed
}

// maxLine bounds a logged line; a longer one is logged in pieces.
const maxLine = 4096

// lineWriter calls fn for each line written to it. exec writes to it from
// one goroutine, and Wait returns only after that goroutine is done.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		end := i
		if i < 0 {
			end = len(p)
		}
		w.buf = append(w.buf, p[:end]...)
		for len(w.buf) >= maxLine {
			w.fn(string(w.buf[:maxLine]))
			w.buf = append(w.buf[:0], w.buf[maxLine:]...)
		}
		if i < 0 {
			break
		}
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit() {
	w.fn(strings.TrimRight(string(w.buf), "\r"))
	w.buf = w.buf[:0]
}

// flush passes on a last line that did not end in a newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit()
	}
}
