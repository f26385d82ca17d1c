package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSyscallsWithinSystemService runs the real binary under strace while it
// issues, pushes (with file_group, so fchown), follows an edit of the
// domains file, reloads on SIGHUP and stops on SIGTERM, and requires every
// system call it made to be in @system-service, the unit's
// SystemCallFilter=; one outside it would fail with EPERM under systemd.
func TestSyscallsWithinSystemService(t *testing.T) {
	needTool(t, "strace")
	needTool(t, "systemd-analyze")
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	allowed := syscallGroup(t, "@system-service")
	e := newEnv(t, envOptions{})
	e.haproxyExtra = "    file_mode: \"0640\"\n    file_group: daemon\n"
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test]\n")
	e.writeConfig()
	trace := filepath.Join(e.dir, "strace.out")
	cmd := exec.Command("strace", "-f", "-qq", "-o", trace, hotcertBin, "run", "--config", e.cfgPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	h := e.lbs[0]
	h.waitServed("shop.example.test", e.bundle(0, "shop"), 120*time.Second)
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test]\n  - name: api\n    domains: [api.example.test]\n")
	h.waitServed("api.example.test", e.bundle(0, "api"), 120*time.Second)

	pid := tracee(t, cmd.Process.Pid)
	syscall.Kill(pid, syscall.SIGHUP)
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("hotcert under strace did not stop within 30 s of SIGTERM")
	}
	used := tracedCalls(t, trace)
	var outside []string
	for _, c := range used {
		if !allowed[c] {
			outside = append(outside, c)
		}
	}
	t.Logf("%d distinct system calls, all checked: %s", len(used), strings.Join(used, " "))
	if len(used) < 20 || len(outside) > 0 {
		t.Fatalf("system calls outside @system-service: %v (of %d traced)", outside, len(used))
	}
}

// syscallGroup expands a systemd system call group, with its nested groups.
func syscallGroup(t *testing.T, group string) map[string]bool {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "syscall-filter", "--no-pager", group).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", group, err)
	}
	calls := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		switch line = strings.TrimSpace(line); {
		case strings.HasPrefix(line, "@"):
			for c := range syscallGroup(t, line) {
				calls[c] = true
			}
		case line != "" && !strings.HasPrefix(line, "#"):
			calls[line] = true
		}
	}
	return calls
}

// tracee is the pid of strace's child, hotcert.
func tracee(t *testing.T, stracePid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(stracePid) + "/task/" + strconv.Itoa(stracePid) + "/children")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

var straceCall = regexp.MustCompile(`^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)`)

// tracedCalls lists the distinct system calls in strace's output.
func tracedCalls(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := straceCall.FindStringSubmatch(sc.Text()); m != nil {
			seen[m[1]] = true
		}
	}
	calls := make([]string, 0, len(seen))
	for c := range seen {
		calls = append(calls, c)
	}
	slices.Sort(calls)
	return calls
}
