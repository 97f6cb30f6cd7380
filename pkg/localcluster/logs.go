package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkplane/sparkplane/pkg/kubelet"
)

// LogFile finds the container log of a pod in a cluster directory. The pod
// may be gone already: its directory stays until the cluster directory is
// deleted or recreated. Of several pods of that name (on different nodes),
// the most recently written log wins.
func LogFile(dir, namespace, pod string) (string, error) {
	pattern := filepath.Join(kubelet.PodDir(filepath.Join(dir, nodesDir, "*"), namespace, pod), kubelet.LogFile)
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("looking for %s: %w", pattern, err)
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("no log for pod %s/%s under %s (is the cluster directory right, and did the pod run on a process kubelet?): %w",
			namespace, pod, dir, os.ErrNotExist)
	}
	newest, newestAt := "", time.Time{}
	for _, m := range matches {
		if at := modTime(m); newest == "" || at.After(newestAt) {
			newest, newestAt = m, at
		}
	}
	return newest, nil
}

// ResultLine is the "RESULT ..." line the shuffle job (jobs/shuffle.py)
// prints, from the log of the driver pod that ran it; "" if there is none.
func ResultLine(dir, namespace, driver string) (string, error) {
	path, err := LogFile(dir, namespace, driver)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening driver log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "RESULT ") {
			return line, nil
		}
	}
	return "", sc.Err()
}

// TailOffset returns where the last n lines of f begin (0 for n < 0: the
// whole file), reading backwards from the end so a large log costs only
// its tail.
func TailOffset(f io.ReaderAt, size int64, n int) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	const block = 32 << 10
	buf := make([]byte, block)
	end := size
	// A final newline ends the last line; it does not start another.
	if end > 0 {
		if _, err := f.ReadAt(buf[:1], end-1); err != nil {
			return 0, err
		}
		if buf[0] == '\n' {
			end--
		}
	}
	found := 0
	for pos := end; pos > 0; {
		start := max(pos-block, 0)
		chunk := buf[:pos-start]
		if _, err := f.ReadAt(chunk, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				continue
			}
			if found++; found == n {
				return start + int64(i) + 1, nil
			}
		}
		pos = start
	}
	if n == 0 {
		return size, nil
	}
	return 0, nil
}

// FollowOptions configure FollowLog.
type FollowOptions struct {
	// Tail is how many lines of what is there to print first (< 0: all).
	Tail int
	// Follow keeps printing what is appended until Ended says the pod is
	// done (its final output is printed first) or ctx ends.
	Follow bool
	// Ended reports whether the pod has ended or is gone; with Follow it is
	// asked every Poll. An error ends following with that error.
	Ended func(context.Context) (bool, error)
	// Poll is how often a followed log is checked (default 250ms).
	Poll time.Duration
}

// FollowLog copies the log at path to w: the last opts.Tail lines, and with
// opts.Follow what is appended until the pod ends or ctx ends (which is not
// an error: Ctrl-C stops following).
func FollowLog(ctx context.Context, w io.Writer, path string, opts FollowOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening pod log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading pod log: %w", err)
	}
	off, err := TailOffset(f, fi.Size(), opts.Tail)
	if err != nil {
		return fmt.Errorf("reading pod log: %w", err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("reading pod log: %w", err)
	}
	if _, err := io.Copy(w, f); err != nil || !opts.Follow {
		return err
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// Ask before copying: output written before the pod ended is then
		// copied by this round.
		ended, err := opts.Ended(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if _, cerr := io.Copy(w, f); cerr != nil {
			return cerr
		}
		if err != nil || ended {
			return err
		}
	}
}
