// Package command runs a command an operator configured (a DNS script, a
// hook): bounded by a timeout that kills its whole process group, with its
// output in the log line by line, and a failure that names the exit status
// and the last line the command wrote to stderr.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cmd is a command and how to run it.
type Cmd struct {
	Argv []string // the program and its first arguments, as configured
	Env  []string // KEY=VALUE, added to hotcert's own environment; never logged
	// OwnEnv makes Env the whole environment: nothing of hotcert's own
	// (credentials given to it, say) reaches the command.
	OwnEnv  bool
	Dir     string        // working directory; "" is hotcert's
	Timeout time.Duration // required: a command that hangs must not hold anything up
	Log     *slog.Logger  // each line of output, with "stream" stdout or stderr
	// Output is the message each line of output is logged with;
	// "command output" when empty.
	Output string
}

// waitDelay bounds how long Run waits for the output of processes that left
// the group (setsid) after the group was killed.
const waitDelay = 5 * time.Second

// Run runs c.Argv with args appended and waits for it. The command gets a
// process group of its own, so that at the timeout the shell and everything
// it started are killed together.
func Run(ctx context.Context, c Cmd, args ...string) error {
	if len(c.Argv) == 0 {
		return errors.New("no command")
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Argv[0], append(c.Argv[1:], args...)...)
	cmd.Env = append(os.Environ(), c.Env...)
	if c.OwnEnv {
		cmd.Env = c.Env
	}
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	stdout, stderr := newLines(c.Log, c.Output, "stdout"), newLines(c.Log, c.Output, "stderr")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	stdout.flush()
	stderr.flush()
	if err == nil {
		return nil
	}
	e := &Error{Command: c.Argv[0], Stderr: stderr.lastLine(), Err: err}
	if cmd.Process != nil {
		e.Pid = cmd.Process.Pid
	}
	var exit *exec.ExitError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.Timeout = c.Timeout
	case errors.As(err, &exit):
		e.ExitCode = exit.ExitCode()
	}
	return e
}

// Error is a command that failed: it could not start, exited non-zero, or
// ran out of time.
type Error struct {
	Command  string
	ExitCode int           // when it exited non-zero; -1 when killed by a signal
	Timeout  time.Duration // non-zero when it was killed at the timeout
	Stderr   string        // the last line it wrote to stderr, if any
	Pid      int           // the process's, once it started
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Command)
	switch {
	case e.Timeout > 0:
		fmt.Fprintf(&b, ": killed after the %s timeout", e.Timeout)
	case e.ExitCode > 0:
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	default:
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, ": %s", e.Stderr)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// maxLine bounds one logged line, so that a command writing binary output
// without newlines cannot grow the buffer without end.
const maxLine = 4096

// lines logs what a command writes, one log record per line.
type lines struct {
	log    *slog.Logger
	msg    string
	stream string

	mu   sync.Mutex
	buf  []byte
	last string
}

func newLines(log *slog.Logger, msg, stream string) *lines {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if msg == "" {
		msg = "command output"
	}
	return &lines{log: log, msg: msg, stream: stream}
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		switch {
		case i >= 0 && i <= maxLine:
			l.emit(string(l.buf[:i]))
			l.buf = l.buf[i+1:]
		case len(l.buf) >= maxLine:
			// No newline within maxLine: log a piece, keep every byte.
			l.emit(string(l.buf[:maxLine]))
			l.buf = l.buf[maxLine:]
		default:
			return len(p), nil
		}
	}
}

func (l *lines) emit(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	l.last = line
	l.log.Info(l.msg, "stream", l.stream, "line", line)
}

func (l *lines) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

func (l *lines) lastLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
