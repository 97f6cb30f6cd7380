package kubelet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// sigkill is SIGKILL, named for the callers that kill without a grace period.
const sigkill = syscall.SIGKILL

// process is a running container process and its process group.
type process struct {
	pid       int
	startedAt time.Time
	// done is closed once the process has exited and every other process
	// of its group has been killed; exitCode and finishedAt are set then.
	done       chan struct{}
	exitCode   int
	finishedAt time.Time
}

// startProcess starts c in a new process group (so that signals reach the
// Python workers and other children too) with stdout and stderr appended to
// logPath. onExit runs after done is closed.
func startProcess(c command, logPath string, onExit func()) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening container log: %w", err)
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", c.Path, err)
	}
	p := &process{pid: cmd.Process.Pid, startedAt: time.Now(), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status is in ProcessState
		p.exitCode = exitCode(cmd.ProcessState)
		p.finishedAt = time.Now()
		// A container's processes all end with its main process.
		_ = p.signal(syscall.SIGKILL)
		_ = logFile.Close()
		close(p.done)
		onExit()
	}()
	return p, nil
}

// exitCode reports a signalled process as 128+signal, like container
// runtimes (137 after SIGKILL, 143 after SIGTERM).
func exitCode(st *os.ProcessState) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// signal sends sig to the process group. A group that is already gone is
// not an error.
func (p *process) signal(sig syscall.Signal) error {
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling process group %d: %w", p.pid, err)
	}
	return nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL if the process is still there after
// grace, and returns when it has ended.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// Limits of the log tail in a failed pod's message; the kubelet's
// FallbackToLogsOnError uses the same.
const (
	logTailLines = 80
	logTailBytes = 2048
	// errorScanBytes is how much of the end of a log lastErrorLine reads.
	errorScanBytes = 1 << 20
)

// lastErrorLine returns the last line of the log that looks like the cause
// of a JVM's failure: a log4j ERROR line, an uncaught exception or the
// innermost "Caused by:". A failed driver's log usually ends with a long
// stack trace whose tail alone does not say what went wrong.
func lastErrorLine(path string) string {
	data, _, err := readTail(path, errorScanBytes)
	if err != nil {
		return ""
	}
	var last string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, " ERROR ") || strings.HasPrefix(line, "Exception in thread") || strings.HasPrefix(line, "Caused by: ") {
			last = line
		}
	}
	const maxLen = 512
	if len(last) > maxLen {
		last = last[:maxLen] + "..."
	}
	return strings.TrimSpace(last)
}

// readTail reads at most n bytes from the end of a file, and says where
// they start.
func readTail(path string, n int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	off := max(st.Size()-n, 0)
	data, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	return data, off, err
}

// logTail returns the last lines of a log file (at most logTailLines lines
// and logTailBytes bytes).
func logTail(path string) string {
	data, off, err := readTail(path, logTailBytes)
	if err != nil {
		return ""
	}
	if off > 0 {
		// Drop the partial first line.
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}
