package autoscaled

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// TestBadKarpenterBinary: Start with a Karpenter binary that is not one
// fails with an error that names the binary (or its CRDs) and Karpenter's
// log, and leaves nothing running: no process of the binary, no API
// server, and the directory free for the next Start, which works with the
// real Karpenter.
func TestBadKarpenterBinary(t *testing.T) {
	if karpenterBin == "" {
		t.Skip(skip)
	}
	crds := func(t *testing.T, bin string) {
		t.Helper()
		dst := localcluster.KarpenterCRDDir(bin)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range karpenter.CRDFiles() {
			data, err := os.ReadFile(filepath.Join(localcluster.KarpenterCRDDir(karpenterBin), f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		script string // the binary's content
		mode   os.FileMode
		crds   bool
		want   []string // in the error; BIN is the binary's path, LOG Karpenter's log
	}{
		{
			// It exits at once, leaving a child behind in its process group.
			name:   "exits at once leaving a child",
			script: "#!/bin/sh\nif [ \"$1\" = helper ]; then while :; do sleep 1; done; fi\n\"$0\" helper &\necho 'fake karpenter: started a helper' >&2\nexit 1\n",
			mode:   0o755, crds: true,
			want: []string{"BIN", "LOG", "exit status 1", "fake karpenter: started a helper"},
		},
		{
			name:   "no CRDs next to it",
			script: "#!/bin/sh\nexit 0\n",
			mode:   0o755,
			want:   []string{"crds", "hack/karpenter.sh"},
		},
		{
			name:   "not executable",
			script: "not a program\n",
			mode:   0o644, crds: true,
			want: []string{"BIN", "is not an executable file"},
		},
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "karpenter")
			if err := os.WriteFile(bin, []byte(tt.script), tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.crds {
				crds(t, bin)
			}
			opts := badInputOptions(dir)
			opts.Karpenter.Binary = bin
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c, err := localcluster.Start(ctx, opts)
			if err == nil {
				c.Stop()
				t.Fatal("Start succeeded with a binary that is not Karpenter")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				w = strings.NewReplacer("BIN", bin, "LOG", localcluster.KarpenterLogPath(dir)).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			if procs := processesOf(filepath.Dir(bin)); len(procs) > 0 {
				t.Errorf("processes left running from %s: %v", filepath.Dir(bin), procs)
				for _, p := range procs {
					if pid, err := strconv.Atoi(p.pid); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL) // started by this test
					}
				}
			}
			requireAPIServerGone(t, dir)
		})
	}
	// The directory is free: a Start with the real Karpenter works there.
	opts := badInputOptions(dir)
	opts.Karpenter.Binary = karpenterBin
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start with the real Karpenter after the failed ones: %v", err)
	}
	c.Stop()
}

// badInputOptions is a cluster with Karpenter and nothing else: no
// kubelets (no Spark needed), no webhook, an earlier cluster's directory
// replaced.
func badInputOptions(dir string) localcluster.Options {
	opts := localcluster.Defaults(dir)
	opts.Recreate = true
	opts.OnDemandPerZone, opts.SpotPerZone = 0, 0
	opts.Kubelet, opts.Webhook = localcluster.KubeletNone, false
	opts.Autoscaler = localcluster.AutoscalerKarpenter
	return opts
}

type process struct{ pid, cmdline string }

// processesOf lists the processes whose command line names a file in dir.
func processesOf(dir string) []process {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []process
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), dir) {
			out = append(out, process{filepath.Base(filepath.Dir(p)), strings.ReplaceAll(string(data), "\x00", " ")})
		}
	}
	return out
}

// requireAPIServerGone fails the test if the API server the cluster's
// kubeconfig names still accepts connections.
func requireAPIServerGone(t *testing.T, dir string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return // never written: the API server never started
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("the API server %s still accepts connections after the failed Start", cfg.Host)
	}
}
