package controlplane

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"k8s.io/kubernetes/test/utils/ktesting"
)

// headlessTB implements ktesting.TB outside of `go test`, so that
// kube-apiserver's StartTestServer can be used by ordinary programs.
//
//   - Log output goes to a logSink.
//   - Error/Fail record a failure; Fatal/FailNow/Skip additionally stop the
//     calling goroutine with runtime.Goexit, as testing.T does. Callers
//     must therefore invoke code that may call Fatal on a goroutine of
//     their own (see runIsolated) and inspect err() afterwards.
//   - Cleanup collects functions that runCleanups runs in reverse order.
type headlessTB struct {
	name    string
	out     *logSink
	tempDir string // parent for TempDir

	mu       sync.Mutex
	errs     []error
	failed   bool
	skipped  bool
	cleanups []func()
	tmpSeq   int
}

var _ ktesting.TB = (*headlessTB)(nil)

func newHeadlessTB(name string, out *logSink, tempDir string) *headlessTB {
	return &headlessTB{name: name, out: out, tempDir: tempDir}
}

func (t *headlessTB) logLine(s string) {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	_, _ = t.out.Write([]byte(s))
}

func (t *headlessTB) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
	if err != nil {
		t.errs = append(t.errs, err)
	}
}

// err returns the failures recorded so far, or nil.
func (t *headlessTB) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.failed {
		return nil
	}
	if len(t.errs) == 0 {
		return errors.New("failed without message")
	}
	return errors.Join(t.errs...)
}

func (t *headlessTB) Attr(key, value string) { t.logLine(fmt.Sprintf("=== ATTR %s %s", key, value)) }

// Chdir would change the working directory of the whole process, which a
// library must not do behind a program's back; it is reported as a failure.
func (t *headlessTB) Chdir(dir string) {
	t.fail(fmt.Errorf("Chdir(%q) is not supported outside of go test", dir))
}

func (t *headlessTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *headlessTB) Error(args ...any) {
	msg := fmt.Sprint(args...)
	t.logLine("ERROR: " + msg)
	t.fail(errors.New(msg))
}

func (t *headlessTB) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.logLine("ERROR: " + msg)
	t.fail(errors.New(msg))
}

func (t *headlessTB) Fail() { t.fail(nil) }

func (t *headlessTB) FailNow() {
	t.fail(nil)
	runtime.Goexit()
}

func (t *headlessTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *headlessTB) Fatal(args ...any) {
	t.Error(args...)
	runtime.Goexit()
}

func (t *headlessTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

func (t *headlessTB) Helper() {}

func (t *headlessTB) Log(args ...any) { t.logLine(fmt.Sprintln(args...)) }

func (t *headlessTB) Logf(format string, args ...any) { t.logLine(fmt.Sprintf(format, args...)) }

func (t *headlessTB) Name() string { return t.name }

// Setenv sets a process environment variable and restores it on cleanup.
func (t *headlessTB) Setenv(key, value string) {
	prev, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		t.Fatalf("Setenv(%q): %v", key, err)
	}
	t.Cleanup(func() {
		if had {
			_ = os.Setenv(key, prev)
		} else {
			_ = os.Unsetenv(key)
		}
	})
}

// Skip has no meaning outside of go test: it fails and stops the goroutine.
func (t *headlessTB) Skip(args ...any) {
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	t.Fatal(append([]any{"skipped: "}, args...)...)
}

func (t *headlessTB) Skipf(format string, args ...any) {
	t.mu.Lock()
	t.skipped = true
	t.mu.Unlock()
	t.Fatalf("skipped: "+format, args...)
}

func (t *headlessTB) SkipNow() { t.Skip() }

func (t *headlessTB) Skipped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skipped
}

// TempDir returns a new directory below the control plane's temp dir, which
// is removed on Stop.
func (t *headlessTB) TempDir() string {
	t.mu.Lock()
	t.tmpSeq++
	seq := t.tmpSeq
	t.mu.Unlock()
	dir, err := os.MkdirTemp(t.tempDir, fmt.Sprintf("tb-%03d-", seq))
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	return dir
}

// runCleanups runs the registered cleanup functions in reverse order of
// registration, including ones registered while cleaning up. A panicking
// cleanup function is recorded as a failure and does not stop the others.
func (t *headlessTB) runCleanups() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		runIsolated(t, f)
	}
}

// runIsolated runs f on a new goroutine and waits for it, so that a Fatal
// (runtime.Goexit) or panic inside f cannot take down the caller's
// goroutine. A panic is recorded as a failure of t.
func runIsolated(t *headlessTB, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				t.fail(fmt.Errorf("panic: %v", r))
			}
		}()
		f()
	}()
	<-done
}
