package localcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// A directory with files sparkplane did not create is refused and left as
// it was; a new or empty one is taken.
func TestClaimDirAcceptsNewOrEmptyRefusesForeign(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(dir string)
		wantErr error
	}{
		{"missing", func(dir string) { os.Remove(dir) }, nil},
		{"empty", func(string) {}, nil},
		{"user's source files", func(dir string) { writeFile(t, filepath.Join(dir, "important.go")) }, ErrForeignDir},
		{"user's subdirectory", func(dir string) { writeFile(t, filepath.Join(dir, "nodes", "mine.txt")) }, ErrForeignDir},
		{"user's logs and kubeconfig", func(dir string) {
			writeFile(t, filepath.Join(dir, "logs", "app.log"))
			writeFile(t, filepath.Join(dir, "kubeconfig"))
		}, ErrForeignDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.prepare(dir)
			before, _ := os.ReadDir(dir)
			d, err := claimDir(dir, true)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("claimDir: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "pick a new or empty one") {
					t.Errorf("error %q does not say how to proceed", err)
				}
				after, _ := os.ReadDir(dir)
				if len(after) != len(before) || exists(filepath.Join(dir, MarkerFile)) {
					t.Errorf("refused directory changed: %v -> %v", before, after)
				}
				return
			}
			defer d.release()
			if !exists(filepath.Join(dir, MarkerFile)) {
				t.Error("no marker written")
			}
		})
	}
}

// A directory whose cluster runs cannot be claimed (not even to recreate
// it); a stopped cluster's is refused without recreate and, with it, loses
// only what sparkplane created.
func TestClaimDirLocksAndRecreatesOnlyItsOwn(t *testing.T) {
	dir := t.TempDir()
	first, err := claimDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kubeconfig", "tls.crt", "nodes/zone-a-spot-0/pods/default/p/container.log", "logs/components.log"} {
		writeFile(t, filepath.Join(dir, name))
	}
	if running, pid := Running(dir); !running || pid != pidString() {
		t.Errorf("Running = %v, %q; want true and this process", running, pid)
	}
	for _, recreate := range []bool{false, true} {
		if _, err := claimDir(dir, recreate); !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), "pid "+pidString()) {
			t.Errorf("second claim (recreate %v) of a running cluster's dir: %v, want in use by pid %s", recreate, err, pidString())
		}
	}
	first.release()
	if running, _ := Running(dir); running {
		t.Error("Running after release")
	}

	writeFile(t, filepath.Join(dir, "notes.txt")) // the user's, added later
	if _, err := claimDir(dir, false); !errors.Is(err, ErrClusterExists) || !strings.Contains(err.Error(), "--recreate") {
		t.Fatalf("claim of an earlier cluster's dir: %v, want ErrClusterExists naming --recreate", err)
	}
	if !exists(filepath.Join(dir, "nodes/zone-a-spot-0/pods/default/p/container.log")) {
		t.Fatal("refused claim removed the earlier cluster's pod log")
	}
	second, err := claimDir(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer second.release()
	names, _ := entries(dir)
	if strings.Join(names, ",") != MarkerFile+",notes.txt" {
		t.Errorf("after recreate: %v, want only the marker and the user's notes.txt", names)
	}
}

// A marker that lists more than sparkplane creates does not widen what
// --recreate removes.
func TestRecreateIgnoresForeignNamesInMarker(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "main.go"))
	if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(`{"created":["src","..","kubeconfig"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := claimDir(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	d.release()
	if !exists(filepath.Join(dir, "src", "main.go")) {
		t.Error("--recreate removed src/, which sparkplane never creates")
	}
}

func pidString() string { return strconv.Itoa(os.Getpid()) }

// A directory of a cluster started before markers existed (only entries a
// cluster writes) counts as an earlier cluster's.
func TestClaimDirTakesUnmarkedClusterDirOnlyWithRecreate(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"kubeconfig", "tls.crt", "tls.key", "nodes/n/pods/default/p/container.log"} {
		writeFile(t, filepath.Join(dir, name))
	}
	if _, err := claimDir(dir, false); !errors.Is(err, ErrClusterExists) {
		t.Fatalf("claim without recreate: %v, want ErrClusterExists", err)
	}
	if exists(filepath.Join(dir, MarkerFile)) || !exists(filepath.Join(dir, "kubeconfig")) {
		t.Fatal("refused claim changed the directory")
	}
	d, err := claimDir(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.release()
	if names, _ := entries(dir); len(names) != 1 || names[0] != MarkerFile {
		t.Errorf("after recreate: %v, want only the marker", names)
	}
}
