package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func shell(script string, timeout time.Duration, log *slog.Logger) Cmd {
	return Cmd{Argv: []string{"/bin/sh", "-c", script, "script"}, Timeout: timeout, Log: log}
}

func TestRunPassesArgumentsAndEnvironmentAndLogsEachLine(t *testing.T) {
	var out bytes.Buffer // slog's handler serialises the writes of stdout's and stderr's copiers
	c := shell(`echo "args: $*"; echo "token: $API_TOKEN"; echo warn >&2`, time.Minute, slog.New(slog.NewTextHandler(&out, nil)))
	c.Env = []string{"API_TOKEN=s3cret"}
	if err := Run(t.Context(), c, "present", "_acme-challenge.example.test.", "v"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`stream=stdout line="args: present _acme-challenge.example.test. v"`,
		`stream=stdout line="token: s3cret"`,
		`stream=stderr line=warn`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, out.String())
		}
	}
}

func TestRunFailureNamesExitStatusAndLastStderrLine(t *testing.T) {
	err := Run(t.Context(), shell("echo first >&2; echo 'zone refused the update' >&2; exit 3", time.Minute, nil))
	var e *Error
	if !errors.As(err, &e) || e.ExitCode != 3 || e.Stderr != "zone refused the update" {
		t.Fatalf("err = %#v", err)
	}
	if want := "/bin/sh: exit status 3: zone refused the update"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}

func TestRunMissingProgram(t *testing.T) {
	err := Run(t.Context(), Cmd{Argv: []string{filepath.Join(t.TempDir(), "nope")}, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}

// At the timeout the whole process group dies: a shell's background child
// too, which would otherwise keep running and hold the output pipe open.
func TestRunTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	err := Run(t.Context(), shell("sleep 300 & echo $! > "+pidFile+"; wait", 3*time.Second, nil))
	var e *Error
	if !errors.As(err, &e) || e.Timeout != 3*time.Second || !strings.Contains(err.Error(), "killed after the 3s timeout") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("Run returned after %s", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the background sleep %d outlived the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive tells a running process from a dead one, counting a zombie nobody
// has reaped yet as dead.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func TestRunStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Run(ctx, shell("sleep 300", time.Minute, nil)); err == nil {
		t.Fatal("a cancelled run succeeded")
	}
}

// TestLongLinesAreSplit: a line longer than maxLine is logged in pieces,
// a carriage return before the newline is dropped, and a line written in
// two parts is logged once.
func TestLongLinesAreSplit(t *testing.T) {
	var got []string
	l := newLines(slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) {
		var rec struct{ Line string }
		if err := json.Unmarshal(p, &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Line)
	}), nil)), "", "stdout")
	l.Write([]byte(strings.Repeat("x", maxLine+10) + "\r\nab"))
	l.Write([]byte("c\n"))
	l.flush()
	if len(got) != 3 || len(got[0]) != maxLine || got[1] != strings.Repeat("x", 10) || got[2] != "abc" {
		t.Errorf("%d lines, want %d, \"x\"*10, \"abc\"", len(got), maxLine)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
