package e2e

import (
	"context"
	"github.com/sparkplane/sparkplane/test/testkit"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

func requireSpark(t *testing.T) {
	t.Helper()
	if skip != "" {
		t.Skip(skip)
	}
}

// smallJob are the confs every test job uses: small heaps, no UI.
func smallJob(name string, confs ...string) []string {
	base := []string{"spark.executor.memory=512m", "spark.driver.memory=512m", "spark.executor.cores=1", "spark.ui.enabled=false",
		"spark.kubernetes.allocation.batch.delay=500ms"}
	args := []string{"--name", name}
	for _, c := range append(base, confs...) {
		args = append(args, "--conf", c)
	}
	return args
}

// runJob runs a job to the end in its own namespace and fails the test if
// spark-submit fails or the job's answer is wrong.
func runJob(t *testing.T, ns string, args []string, during func(ctx context.Context)) (*localcluster.Run, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	duringCtx, stopDuring := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if during != nil {
			during(duringCtx)
		}
	}()
	out := &testkit.Buffer{}
	run, err := cluster.Run(ctx, localcluster.Job{Namespace: ns, Args: args, Output: out})
	stopDuring()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: spark-submit returned after %s; %d executors seen", ns, run.Duration.Round(time.Second), len(run.Executors))
	if run.SubmitErr != nil {
		t.Fatalf("spark-submit: %v\n%s", run.SubmitErr, testkit.Tail(out.String(), 40))
	}
	return run, out.String()
}

func requireCorrect(t *testing.T, ns string, run *localcluster.Run) {
	t.Helper()
	if run.Driver == nil {
		t.Fatal("no driver pod seen")
	}
	line, err := localcluster.ResultLine(clusterDir(), ns, run.Driver.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(line, "ok=True") {
		t.Fatalf("job answer: %q (sparkplane local logs --dir %s -n %s %s)", line, clusterDir(), ns, run.Driver.Name)
	}
	if run.Driver.Phase != "Succeeded" {
		t.Errorf("driver phase %s", run.Driver.Phase)
	}
}

func clusterDir() string { return filepath.Dir(cluster.Kubeconfig) }

func nodesByName() map[string]localcluster.Node {
	m := map[string]localcluster.Node{}
	for _, n := range cluster.AllNodes() {
		m[n.Name] = n
	}
	return m
}

// requireFollowDriver checks every executor that ran is in the driver's zone
// and, when spotRoom, on spot; the driver on on-demand.
func requireFollowDriver(t *testing.T, run *localcluster.Run, spotRoom bool) localcluster.Node {
	t.Helper()
	nodes := nodesByName()
	drv := nodes[run.Driver.Node]
	if drv.Capacity != v1alpha1.CapacityOnDemand {
		t.Errorf("driver on %s (%s)", drv.Name, drv.Capacity)
	}
	ran := 0
	for _, e := range run.Executors {
		if !e.Ran {
			continue
		}
		ran++
		n := nodes[e.Node]
		if n.Zone != drv.Zone {
			t.Errorf("executor %d ran in %s, driver in %s", e.ExecID, n.Zone, drv.Zone)
		}
		if spotRoom && n.Capacity != v1alpha1.CapacitySpot {
			t.Errorf("executor %d on %s capacity although spot had room", e.ExecID, n.Capacity)
		}
	}
	if ran == 0 {
		t.Error("no executor ran")
	}
	return drv
}
