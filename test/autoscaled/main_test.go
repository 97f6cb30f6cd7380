// Package autoscaled runs real Spark (PyPI's pyspark, real driver and
// executor JVMs) on a local cluster that starts with no worker nodes and
// grows and shrinks with the real Karpenter (its KWOK provider, built by
// hack/karpenter.sh): every node Karpenter launches gets a process kubelet.
// One cluster serves the whole package.
package autoscaled

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// The cluster's zones. Spot is offered nowhere in noSpotZone; the pool
// "default" launches in the other zones and is tried first, so apps that
// do not ask for noSpotZone start where spot exists.
const (
	noSpotZone = "zone-c"
	// consolidateZone holds the pool whose nodes Karpenter consolidates when
	// underutilized (the consolidation test's).
	consolidateZone = "zone-b"
	// consolidatePool is that pool: on-demand only, WhenEmptyOrUnderutilized.
	consolidatePool = "underutilized"
	// consolidateAfter is every pool's: short, so nodes go fast.
	consolidateAfter = 10 * time.Second
)

var zones = []string{"zone-a", "zone-b", "zone-c"}

var (
	cluster *localcluster.Cluster
	// skip is why the package cannot run here (Java missing); tests say so.
	skip string
	// shuffleApp and gatedApp are the jobs' local:// URIs.
	shuffleApp, gatedApp string
	// karpenterBin is the Karpenter binary the cluster runs.
	karpenterBin string
)

// pools: "default" (zones a and b, spot and on-demand, empty nodes go after
// consolidateAfter, all at once), "zone-c" (the no-spot zone, tried after
// "default"), and consolidatePool, which only pods that select it use.
func pools() []karpenter.NodePoolOptions {
	after := consolidateAfter.String()
	all := []karpenter.Budget{{Nodes: "100%"}}
	both := []string{karpenter.CapacitySpot, karpenter.CapacityOnDemand}
	return []karpenter.NodePoolOptions{
		{Name: "default", CapacityTypes: both, Zones: []string{"zone-a", "zone-b"}, Weight: ptr.To[int32](50),
			ConsolidationPolicy: karpenter.ConsolidateWhenEmpty, ConsolidateAfter: after, Budgets: all},
		{Name: noSpotZone, CapacityTypes: both, Zones: []string{noSpotZone}, Weight: ptr.To[int32](10),
			ConsolidationPolicy: karpenter.ConsolidateWhenEmpty, ConsolidateAfter: after, Budgets: all},
		{Name: consolidatePool, CapacityTypes: []string{karpenter.CapacityOnDemand}, Zones: []string{consolidateZone},
			ConsolidationPolicy: karpenter.ConsolidateWhenEmptyOrUnderutilized, ConsolidateAfter: after, Budgets: all},
	}
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := exec.LookPath("java"); err != nil {
		skip = "java is not on PATH: install Java 17 to run the autoscaled tier with real Spark"
		fmt.Fprintln(os.Stderr, "autoscaled: SKIPPING every test:", skip)
		return m.Run()
	}
	// spark-submit's own JVM, as the jobs' (see jvmOpts).
	if err := os.Setenv("SPARK_SUBMIT_OPTS", jvmOpts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "sparkplane-autoscaled-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logPath := filepath.Join(os.TempDir(), "sparkplane-autoscaled.log")
	logs, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logs.Close()

	opts := localcluster.Defaults(dir)
	opts.Zones = zones
	opts.OnDemandPerZone, opts.SpotPerZone = 0, 0
	opts.Autoscaler = localcluster.AutoscalerKarpenter
	opts.Karpenter = localcluster.KarpenterOptions{NodePools: pools(), NoSpotZones: []string{noSpotZone}, LogLevel: "debug"}
	opts.LogWriter, opts.Log = logs, klog.NewKlogr()
	// Karpenter's first build prints its progress here.
	opts.Progress = os.Stderr
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "autoscaled: starting the local cluster with Karpenter (logs %s): %v\n", logPath, err)
		return 1
	}
	defer c.Stop()
	if shuffleApp, err = c.WriteShuffleJob(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if gatedApp, err = writeJob(dir, "gated.py"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if karpenterBin, err = localcluster.BuildKarpenter(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster = c
	fmt.Printf("autoscaled: local cluster with Spark %s and Karpenter ready in %s, no worker nodes (state %s, component logs %s, Karpenter's log %s)\n",
		c.Spark.Version, time.Since(start).Round(time.Second), dir, logPath, c.KarpenterLog())
	return m.Run()
}

// writeJob copies a job of testdata into the cluster directory and returns
// its local:// URI.
func writeJob(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "jobs", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return "", fmt.Errorf("writing job %s: %w", name, err)
	}
	return "local://" + p, nil
}
