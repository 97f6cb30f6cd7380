package devcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

func TestDemoFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--autoscaler", "cluster-autoscaler"}, `--autoscaler "cluster-autoscaler": use none (9 fixed nodes) or karpenter`},
		{[]string{"demo", "--simulated", "--autoscaler", "karpenter"}, "--simulated and --autoscaler karpenter"},
		{[]string{"demo", "--executors", "0"}, "--apps and --executors must be at least 1"},
		{[]string{"demo", "--apps", "0"}, "--apps and --executors must be at least 1"},
	} {
		out, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, output %q; want %q", tt.args, err, out, tt.want)
		}
	}
}

// The demo's component log goes into its cluster directory, as 'local up'
// writes it, not into a directory next to it. An interrupted start-up
// (canceled context) is enough: the log is opened before anything starts.
func TestDemoWritesItsLogInsideItsDirectory(t *testing.T) {
	for _, autoscaler := range []string{localcluster.AutoscalerNone, localcluster.AutoscalerKarpenter} {
		t.Run(autoscaler, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "demo")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			cmd := NewRootCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs([]string{"demo", "--dir", dir, "--autoscaler", autoscaler})
			if err := cmd.ExecuteContext(ctx); err == nil {
				t.Fatalf("demo with a canceled context succeeded:\n%s", out.String())
			}
			if _, err := os.Stat(localcluster.ComponentLogPath(dir)); err != nil {
				t.Errorf("no component log in the cluster directory: %v\n%s", err, out.String())
			}
			entries, err := os.ReadDir(parent)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "demo" {
					t.Errorf("demo wrote %s next to its directory", filepath.Join(parent, e.Name()))
				}
			}
		})
	}
}
