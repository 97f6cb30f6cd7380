// Package scheduler_test runs the sparkplane scheduler (kube-scheduler with
// the SparkGang plugin, in-process) against a real etcd and kube-apiserver
// started once for the package, with simulated Spark apps that create
// executors only once their driver is bound and finish after a set time.
// Each test starts its own scheduler (with its own plugin args) and stops
// it at the end, so at most one scheduler runs at a time.
package scheduler_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/test/testkit"
)

type env struct {
	cp       *controlplane.ControlPlane
	metrics  *scheduler.Metrics
	registry *prometheus.Registry
	logFile  string
}

var shared *env

func TestMain(m *testing.M) {
	testkit.Main(m, "scheduler integration setup", run)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// No scheduler here: each test starts the sparkplane scheduler itself.
	cp, err := testkit.StartControlPlane(ctx, "scheduler-integration", controlplane.Options{LogVerbosity: 2})
	if err != nil {
		return 1, err
	}
	defer cp.Stop()
	reg := prometheus.NewRegistry()
	metrics := scheduler.NewMetrics()
	if err := metrics.Register(reg); err != nil {
		return 1, err
	}
	cp.Ready("control plane")
	shared = &env{cp: cp.ControlPlane, metrics: metrics, registry: reg, logFile: cp.LogPath}
	return m.Run(), nil
}
