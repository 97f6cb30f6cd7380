package devcli

import (
	"context"
	"github.com/sparkplane/sparkplane/test/testkit"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// Bad flags are refused before anything is written or started.
func TestLocalUpValidatesFlagsFirst(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--node-memory", "-5Gi"}, `--node-memory "-5Gi": must be a positive quantity such as 16Gi`},
		{[]string{"--node-memory=0"}, `--node-memory "0": must be a positive quantity`},
		{[]string{"--node-cpu", "abc"}, `--node-cpu "abc": must be a positive quantity such as 4 or 500m`},
		{[]string{"--zones", "Zone_A"}, `--zones: zone "Zone_A"`},
		{[]string{"--spot-per-zone", "-1"}, `--spot-per-zone -1`},
		{[]string{"--kubelet", "docker"}, `--kubelet "docker"`},
		{[]string{"--scheduler", "volcano"}, `--scheduler "volcano"`},
		{[]string{"--kubeconfig", os.TempDir()}, "--kubeconfig " + os.TempDir() + ": is a directory"},
		{[]string{"--autoscaler", "cluster-autoscaler"}, `--autoscaler "cluster-autoscaler": use none (static nodes only) or karpenter`},
		{[]string{"--consolidate-after", "10s"}, `--consolidate-after needs --autoscaler karpenter`},
		{[]string{"--on-demand-per-zone", "0", "--spot-per-zone", "0"}, `at least one node per zone is required (or --autoscaler karpenter`},
		{[]string{"--autoscaler", "karpenter", "--consolidation-policy", "WhenUnderutilized"}, `--consolidation-policy: nodePool "default": consolidationPolicy "WhenUnderutilized": use WhenEmpty, WhenEmptyOrUnderutilized or Balanced`},
		{[]string{"--autoscaler", "karpenter", "--consolidate-after", "90"}, `--consolidate-after: nodePool "default": consolidateAfter "90"`},
		{[]string{"--autoscaler", "karpenter", "--disruption-budget", "110%"}, `--disruption-budget: nodePool "default": budgets[0].nodes "110%"`},
		{[]string{"--autoscaler", "karpenter", "--capacity-types", "spot,reserved"}, `--capacity-types: nodePool "default": capacityTypes[1] "reserved": use spot or on-demand`},
		{[]string{"--autoscaler", "karpenter", "--cpu-limit", "lots"}, `--cpu-limit: nodePool "default": limits[cpu] "lots" is not a quantity`},
		{[]string{"--autoscaler", "karpenter", "--no-spot-zones", "zone-x"}, `--no-spot-zones: noSpotZones[0] "zone-x" is not one of the zones`},
		{[]string{"--autoscaler", "karpenter", "--provider", "aks"}, `use provider preset karpenter`},
		{[]string{"--autoscaler", "karpenter", "--nodepool-file", "/nonexistent/pools.yaml"}, `--nodepool-file: open /nonexistent/pools.yaml: no such file or directory`},
		{[]string{"--autoscaler", "karpenter", "--nodepool-file", writeFile(t, "nodePools:\n- name: spot\n  consolidateAfer: 10s\n")}, `unknown field "nodePools[0].consolidateAfer"`},
		{[]string{"--autoscaler", "karpenter", "--nodepool-file", writeFile(t, "nodePools:\n- name: spot\n"), "--consolidate-after", "5s"}, `--consolidate-after and --nodepool-file: set the pool's settings in the file`},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster")
			out, err := run(t, append([]string{"local", "up", "--dir", dir}, tc.flags...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("--dir was created although the flags were refused (%v); output:\n%s", serr, out)
			}
		})
	}
}

// A --dir holding the user's files is refused and left as it was.
func TestLocalUpRefusesDirWithUserFiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "important.go")
	if err := os.WriteFile(src, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, "local", "up", "--kubelet", "none", "--dir", dir, "--recreate")
	if err == nil || !strings.Contains(err.Error(), "did not create (important.go)") || !strings.Contains(err.Error(), "pick a new or empty one") {
		t.Fatalf("error %v, want a refusal naming important.go and how to proceed", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "important.go" {
		t.Errorf("--dir now holds %v, want only important.go", entries)
	}
}

// lockDir makes dir look like a running cluster's (this process holds its
// marker's lock) with a kubeconfig.
func lockDir(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, ".sparkplane-cluster"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
current-context: c
`
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Ctrl-C of 'local spark-submit' interrupts spark-submit (it may clean
// up) and says so, instead of killing it and reporting "signal: killed".
func TestLocalSparkSubmitInterrupt(t *testing.T) {
	dir := t.TempDir()
	lockDir(t, dir)
	home, bin, mark := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "mark")
	script := "#!/bin/sh\ntrap 'echo INT > \"$MARK.int\"; exit 130' INT\ntouch \"$MARK.started\"\nwhile :; do sleep 0.1; done\n"
	for path, content := range map[string]string{
		filepath.Join(home, "bin", "spark-submit"):               script,
		filepath.Join(home, "jars", "spark-core_2.12-3.5.9.jar"): "",
		filepath.Join(bin, "java"):                               "#!/bin/sh\n",
		filepath.Join(bin, "python3"):                            "#!/bin/sh\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	t.Setenv("JAVA_HOME", "")
	t.Setenv("SPARK_HOME", home)
	t.Setenv("PYSPARK_PYTHON", "")
	t.Setenv("MARK", mark)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(mark + ".started"); err == nil {
				break
			}
		}
		cancel() // as Ctrl-C does through signal.NotifyContext
	}()
	cmd := NewRootCommand()
	cmd.SetArgs([]string{"local", "spark-submit", "--dir", dir, "--", "--name", "x", "local:///job.py"})
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	err := cmd.ExecuteContext(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "interrupted; spark-submit stopped") {
		t.Errorf("error %v, want \"interrupted; spark-submit stopped ...\"", err)
	}
	if _, serr := os.Stat(mark + ".int"); serr != nil {
		t.Errorf("spark-submit got no SIGINT to stop on (killed instead?): %v", serr)
	}
}

func TestLocalSparkSubmitWithoutCluster(t *testing.T) {
	dir := t.TempDir()
	_, err := run(t, "local", "spark-submit", "--dir", dir, "--", "local:///job.py")
	if err == nil || !strings.Contains(err.Error(), "no local cluster runs in --dir "+dir) {
		t.Errorf("error %v, want one saying no cluster runs there", err)
	}
}

// 'local logs --tail N' prints the last lines; -f of a pod whose cluster
// has stopped prints what is there and returns.
func TestLocalLogsTailAndFollowStoppedCluster(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "nodes", "zone-a-spot-0", "pods", "spark", "app-driver", "container.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte("1\n2\n3\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "1\n2\n3\n4\n"},
		{[]string{"--tail", "2"}, "3\n4\n"},
		{[]string{"-f", "--tail", "1"}, "4\n"},
	} {
		done := make(chan struct{})
		var out string
		var err error
		go func() {
			defer close(done)
			out, err = run(t, append([]string{"local", "logs", "--dir", dir, "-n", "spark", "app-driver"}, tc.args...)...)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("local logs %v did not return", tc.args)
		}
		if err != nil || out != tc.want {
			t.Errorf("local logs %v = %q, %v; want %q", tc.args, out, err, tc.want)
		}
	}
	if _, err := run(t, "local", "logs", "--dir", dir, "--tail", "-2", "x"); err == nil || !strings.Contains(err.Error(), "--tail -2") {
		t.Errorf("--tail -2: %v, want an error naming the flag", err)
	}
}

// writeFile writes content to a new file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// 'local up --autoscaler karpenter' starts from zero nodes with the real
// Karpenter, prints its NodePools and log, and on Ctrl-C stops it with the
// rest; a Karpenter that fails to start is an error naming its log, with
// nothing left running and the directory free.
func TestLocalUpAutoscaler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Karpenter (skipped with -short)")
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	out := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for deadline := time.Now().Add(15 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if strings.Contains(out.String(), "Ctrl-C stops the cluster.") {
				break
			}
		}
		cancel()
	}()
	cmd := NewRootCommand()
	cmd.SetArgs([]string{"local", "up", "--dir", dir, "--kubelet", "none", "--autoscaler", "karpenter", "--consolidate-after", "15s", "--cpu-limit", "64"})
	cmd.SetOut(out)
	cmd.SetErr(out)
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("local up: %v\n%s", err, out)
	}
	for _, want := range []string{
		"s] starting Karpenter v", "ready in ", ": 0 nodes in 3 zones",
		"Karpenter launches nodes for pending pods (log: " + filepath.Join(dir, "logs", "karpenter.log") + "); NodePools:",
		"default    spot,on-demand in all zones; consolidation WhenEmptyOrUnderutilized after 15s, budget 100%, cpu limit 64",
		"sparkplane local interrupt --dir " + dir + " NODE",
		"stopping: Karpenter, then pod processes",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if running, _ := localcluster.Running(dir); running {
		t.Error("directory still locked after the cluster stopped")
	}

	// A binary that is not Karpenter: the error names it and its log.
	bin := filepath.Join(t.TempDir(), "karpenter")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'panic: not Karpenter' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(filepath.Dir(bin), "crds"), 0o755); err != nil {
		t.Fatal(err)
	}
	built, err := localcluster.BuildKarpenter(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range karpenter.CRDFiles() {
		data, err := os.ReadFile(filepath.Join(localcluster.KarpenterCRDDir(built), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(bin), "crds", f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out2 := &testkit.Buffer{}
	cmd = NewRootCommand()
	cmd.SetArgs([]string{"local", "up", "--dir", dir, "--recreate", "--kubelet", "none", "--autoscaler", "karpenter", "--karpenter-binary", bin})
	cmd.SetOut(out2)
	cmd.SetErr(out2)
	err = cmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the Karpenter process exited: exit status 3") || !strings.Contains(err.Error(), "panic: not Karpenter") ||
		!strings.Contains(err.Error(), filepath.Join(dir, "logs", "karpenter.log")) {
		t.Errorf("local up with a broken Karpenter: %v, want its exit, its log's end and the log's path", err)
	}
	if running, _ := localcluster.Running(dir); running {
		t.Error("directory still locked after a failed start")
	}
}
