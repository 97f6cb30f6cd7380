package localcluster

import (
	"bytes"
	"context"
	"github.com/sparkplane/sparkplane/test/testkit"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTailOffset(t *testing.T) {
	long := strings.Repeat("x", 70<<10) // lines longer than a read block
	for _, tc := range []struct {
		name, log string
		n         int
		want      string
	}{
		{"all", "a\nb\nc\n", -1, "a\nb\nc\n"},
		{"last two", "a\nb\nc\n", 2, "b\nc\n"},
		{"no final newline", "a\nb\nc", 2, "b\nc"},
		{"more than there are", "a\nb\n", 5, "a\nb\n"},
		{"zero", "a\nb\n", 0, ""},
		{"empty", "", 3, ""},
		{"across blocks", "first\n" + long + "\n" + long + "\nlast\n", 2, long + "\nlast\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.log)
			off, err := TailOffset(bytes.NewReader(b), int64(len(b)), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b[off:]); got != tc.want {
				t.Errorf("last %d lines: %.40q..., want %.40q...", tc.n, got, tc.want)
			}
		})
	}
}

// Following prints what is appended and ends, with the pod's last output,
// once the pod has ended; Ctrl-C (ctx) ends it without an error.
func TestFollowLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ended := false
	opts := FollowOptions{Tail: 1, Follow: true, Poll: 10 * time.Millisecond, Ended: func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return ended, nil
	}}
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() { done <- FollowLog(context.Background(), out, path, opts) }()

	for deadline := time.Now().Add(5 * time.Second); out.String() == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the tail is printed
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("four\n")
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("following stopped while the pod runs: %v", err)
	default:
	}
	f.WriteString("five\n") // the pod's last words, then it ends
	mu.Lock()
	ended = true
	mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("following did not stop after the pod ended")
	}
	if got := out.String(); got != "three\nfour\nfive\n" {
		t.Errorf("followed %q, want the last line and what was appended", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	opts.Ended = func(context.Context) (bool, error) { return false, nil }
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if err := FollowLog(ctx, &bytes.Buffer{}, path, opts); err != nil {
		t.Errorf("interrupted follow: %v, want nil", err)
	}
}
