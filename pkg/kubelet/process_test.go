package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcessExitCodesAndGroupKill(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "container.log")
	run := func(script string) *process {
		t.Helper()
		exited := make(chan struct{})
		p, err := startProcess(command{Path: "/bin/sh", Args: []string{"-c", script}, Dir: dir, Env: []string{"PATH=/usr/bin:/bin"}}, log, func() { close(exited) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.signal(syscall.SIGKILL) })
		return p
	}
	wait := func(p *process) {
		t.Helper()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatal("process did not end")
		}
	}

	p := run("echo out; echo err >&2; exit 7")
	wait(p)
	if p.exitCode != 7 {
		t.Errorf("exit code %d, want 7", p.exitCode)
	}
	if data, _ := os.ReadFile(log); !strings.Contains(string(data), "out\nerr\n") {
		t.Errorf("log %q lacks stdout and stderr", data)
	}

	// SIGTERM ignored by the shell: stop escalates to SIGKILL after the
	// grace period, and the child in the group dies too.
	p = run("trap '' TERM; sleep 600 & echo $! > child.pid; wait; wait; wait")
	childFile := filepath.Join(dir, "child.pid")
	var child int
	waitFor(t, 5*time.Second, "child pid", func() bool {
		data, err := os.ReadFile(childFile)
		_, scanErr := fmt.Sscan(string(data), &child)
		return err == nil && scanErr == nil
	})
	start := time.Now()
	p.stop(500 * time.Millisecond)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("stopped after %v, before the grace period", d)
	}
	if p.exitCode != 137 {
		t.Errorf("exit code %d, want 137 (SIGKILL)", p.exitCode)
	}
	waitFor(t, 5*time.Second, "child killed", func() bool { return !alive(child) })

	// A process that handles SIGTERM ends within the grace period with 143.
	p = run("sleep 600")
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	p.stop(10 * time.Second)
	if d := time.Since(start); d > 5*time.Second || p.exitCode != 143 {
		t.Errorf("SIGTERM: ended after %v with %d, want quickly with 143", d, p.exitCode)
	}
}

func TestLogTailAndLastError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container.log")
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "26/01/01 INFO line %d\n", i)
		if i == 100 {
			b.WriteString("26/01/01 ERROR SparkContext: Error initializing SparkContext.\n")
			b.WriteString("Caused by: java.net.UnknownHostException: kubernetes.default.svc\n")
			b.WriteString("\tat java.base/java.net.InetAddress.getAllByName0(InetAddress.java:1)\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := logTail(path)
	if len(tail) > logTailBytes || !strings.HasSuffix(tail, "INFO line 199") || strings.Contains(tail, "line 100\n") {
		t.Errorf("tail (%d bytes) = %q", len(tail), tail)
	}
	if !strings.HasPrefix(tail, "26/01/01 INFO line") {
		t.Errorf("tail starts with a partial line: %q", tail[:40])
	}
	if got, want := lastErrorLine(path), "Caused by: java.net.UnknownHostException: kubernetes.default.svc"; got != want {
		t.Errorf("lastErrorLine = %q, want %q", got, want)
	}
	if got := logTail(filepath.Join(t.TempDir(), "missing")); got != "" {
		t.Errorf("tail of a missing log = %q", got)
	}
}
