// Package e2e runs real Spark (PyPI's pyspark, real driver and executor
// JVMs) on a local multi-zone cluster: a real etcd, kube-apiserver and
// kube-scheduler, the sparkplane webhook, and process kubelets. One cluster
// serves the whole package.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

var (
	cluster *localcluster.Cluster
	// skip is why the tier cannot run here (Java missing); tests say so.
	skip string
	app  string
)

// Escape timings: long enough for a JVM executor to start and register on
// this 2-core machine, short enough for the test.
const (
	escapeWindow   = 25 * time.Second
	escapeInterval = 2 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := exec.LookPath("java"); err != nil {
		skip = "java is not on PATH: install Java 17 to run the end-to-end tier with real Spark"
		fmt.Fprintln(os.Stderr, "e2e: SKIPPING every test:", skip)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "sparkplane-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logPath := filepath.Join(os.TempDir(), "sparkplane-e2e.log")
	logs, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logs.Close()

	opts := localcluster.Defaults(dir)
	opts.LogWriter, opts.Log = logs, klog.NewKlogr()
	opts.Config.AvailabilityEscape.Enabled = true
	opts.Config.AvailabilityEscape.Window.Duration = escapeWindow
	opts.Config.AvailabilityEscape.Interval.Duration = escapeInterval
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: starting local cluster (logs %s): %v\n", logPath, err)
		return 1
	}
	defer c.Stop()
	if app, err = c.WriteShuffleJob(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster = c
	fmt.Printf("e2e: local cluster with Spark %s ready in %s (state %s, component logs %s)\n", c.Spark.Version, time.Since(start).Round(time.Second), dir, logPath)
	return m.Run()
}
