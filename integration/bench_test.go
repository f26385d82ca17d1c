package integration

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
)

func waitLog(b *testing.B, p *process, what string, limit time.Duration) {
	b.Helper()
	waitLogCount(b, p, what, 1, limit)
}

func waitLogCount(b *testing.B, p *process, what string, count int, limit time.Duration) {
	b.Helper()
	deadline := time.Now().Add(limit)
	for p.count(what) < count {
		if time.Now().After(deadline) {
			b.Fatalf("%q not logged %d times within %v", what, count, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count is strings.Count(p.Logs(), what) without the copy: at 100,000
// certificates the logs are megabytes, and a copy every 10 ms would cost
// the machine a core the binary is measured on.
func (p *process) count(what string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Count(p.logs.Bytes(), []byte(what))
}

// procRSS is a process's resident memory in bytes.
func procRSS(b *testing.B, pid int) int64 {
	b.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// procCPU is a process's user and system CPU time.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	d, err := cpuTime(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// cpuTime is procCPU for callers that are not the test's goroutine: it
// reads /proc/PID/stat, whose times are in clock ticks of 10 ms.
func cpuTime(pid int) (time.Duration, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses: utime is the
	// 12th and stime the 13th of them.
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * 10 * time.Millisecond, nil
}

// nothingDone fails b when a start that found every certificate valid and
// served ordered or pushed any.
func nothingDone(b *testing.B, ca *testca.CA, p *process) {
	b.Helper()
	if got := ca.Orders(); got != 0 {
		b.Fatalf("hotcert ordered %d certificates that were valid", got)
	}
	if k := p.count("action=push"); k != 0 {
		b.Fatalf("hotcert pushed %d certificates that HAProxy already served", k)
	}
}
