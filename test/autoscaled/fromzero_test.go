package autoscaled

import (
	"context"
	"fmt"
	"github.com/sparkplane/sparkplane/test/testkit"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// scaleDownWithin bounds the wait for Karpenter to remove the empty nodes:
// consolidateAfter plus room for its disruption loop and a loaded machine.
const scaleDownWithin = consolidateAfter + 90*time.Second

// threeJobs runs three shuffle jobs at once, in namespaces prefix-1..3, and
// returns their runs and outputs in that order.
func threeJobs(t *testing.T, prefix string) ([]*localcluster.Run, []string) {
	t.Helper()
	runs, outs := make([]*localcluster.Run, 3), make([]string, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns := fmt.Sprintf("%s-%d", prefix, i+1)
			// runJob may call t.Fatal, which must not run outside the test's
			// goroutine: report here and fail after Wait.
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			out := &testkit.Buffer{}
			run, err := cluster.Run(ctx, localcluster.Job{Namespace: ns, Args: shuffleArgs(ns), Output: out})
			if err != nil {
				t.Errorf("%s: %v", ns, err)
				return
			}
			runs[i], outs[i] = run, out.String()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, r := range runs {
		t.Logf("%s-%d: spark-submit returned after %s; %d executors seen", prefix, i+1, r.Duration.Round(time.Second), len(r.Executors))
	}
	return runs, outs
}

// TestFromZero: from zero worker nodes, with the webhook on, three jobs
// submitted together get their nodes from Karpenter: drivers on on-demand,
// executors on spot in their driver's zone; an app pinned to the zone where
// spot is not offered gets on-demand executor nodes there. When the jobs
// end, Karpenter removes every node it launched.
func TestFromZero(t *testing.T) {
	requireSpark(t)
	requireNoNodes(t, scaleDownWithin)
	start := time.Now()
	t.Run("jobs", func(t *testing.T) {
		t.Run("three jobs, webhook on", func(t *testing.T) {
			t.Parallel()
			testThreeJobsWebhookOn(t)
		})
		t.Run("spot not offered in the driver's zone", func(t *testing.T) {
			t.Parallel()
			testNoSpotZone(t)
		})
	})
	took := requireNoNodes(t, scaleDownWithin)
	launched := launchedSince(start)
	counts := capacityCounts(launched)
	t.Logf("AUTOSCALED-FROM-ZERO nodes launched: %d (%d on-demand, %d spot); all removed %s after the last job ended (consolidateAfter %s):%s",
		len(launched), counts[v1alpha1.CapacityOnDemand], counts[v1alpha1.CapacitySpot], took.Round(time.Second), consolidateAfter, summarize(launched))
}

func testThreeJobsWebhookOn(t *testing.T) {
	runs, outs := threeJobs(t, "on")
	nodes := nodesByName()
	for i, run := range runs {
		ns := fmt.Sprintf("on-%d", i+1)
		requireCorrect(t, ns, run, outs[i])
		drv := nodes[run.Driver.Node]
		if drv.Capacity != v1alpha1.CapacityOnDemand || drv.InstanceType == "" {
			t.Errorf("%s: driver on node %q (%s, instance type %q), want an on-demand node Karpenter launched", ns, drv.Name, drv.Capacity, drv.InstanceType)
		}
		execs := ranExecutors(run)
		if len(execs) == 0 {
			t.Errorf("%s: no executor ran", ns)
		}
		for _, e := range execs {
			n := nodes[e.Node]
			if n.Zone != drv.Zone {
				t.Errorf("%s: executor %d ran in %s on %s, its driver in %s", ns, e.ExecID, n.Zone, n.Name, drv.Zone)
			}
			if n.Capacity != v1alpha1.CapacitySpot {
				t.Errorf("%s: executor %d ran on %s node %s, want spot (offered in %s)", ns, e.ExecID, n.Capacity, n.Name, n.Zone)
			}
		}
		t.Logf("%s: driver on %s (%s %s %s), executors on %s", ns, drv.Name, drv.Zone, drv.Capacity, drv.InstanceType, executorNodes(execs, nodes))
	}
}

// testNoSpotZone pins a driver to the zone where no instance type is
// offered as spot: its executors (rule: spot preferred) get on-demand nodes
// in that zone.
func testNoSpotZone(t *testing.T) {
	for _, it := range cluster.Catalog() {
		if _, ok := it.Offering(noSpotZone, karpenter.CapacitySpot); ok {
			t.Fatalf("the catalog offers %s as spot in %s; the test needs a zone without spot", it.Name, noSpotZone)
		}
	}
	// Submit once the other jobs' drivers are bound: pending together,
	// Karpenter could pack them onto the node it launches in this zone.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_ = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for i := range 3 {
			if d := driverOf(ctx, fmt.Sprintf("on-%d", i+1)); d == nil || d.Spec.NodeName == "" {
				return false, nil
			}
		}
		return true, nil
	})
	ns := "nospot"
	run, out := runJob(t, ns, shuffleArgs(ns, "spark.kubernetes.driver.node.selector.topology.kubernetes.io/zone="+noSpotZone), nil)
	requireCorrect(t, ns, run, out)
	nodes := nodesByName()
	drv := nodes[run.Driver.Node]
	if drv.Zone != noSpotZone || drv.Capacity != v1alpha1.CapacityOnDemand {
		t.Fatalf("driver on %s (%s, %s), want on-demand in %s", drv.Name, drv.Zone, drv.Capacity, noSpotZone)
	}
	execs := ranExecutors(run)
	if len(execs) == 0 {
		t.Fatal("no executor ran")
	}
	for _, e := range execs {
		n := nodes[e.Node]
		if n.Zone != noSpotZone || n.Capacity != v1alpha1.CapacityOnDemand || n.InstanceType == "" {
			t.Errorf("executor %d on %s (%s, %s), want an on-demand node Karpenter launched in %s", e.ExecID, n.Name, n.Zone, n.Capacity, noSpotZone)
		}
		if n.Name == drv.Name {
			t.Errorf("executor %d on its driver's node %s, want a node launched for executors", e.ExecID, n.Name)
		}
	}
	t.Logf("driver on %s (%s %s), executors on %s", drv.Name, drv.Zone, drv.Capacity, executorNodes(execs, nodes))
}

// TestWebhookOff: the same three jobs with the webhook off. It records how
// many executors ran outside their driver's zone (the figure for the docs)
// and asserts only that the answers are right.
func TestWebhookOff(t *testing.T) {
	requireSpark(t)
	requireNoNodes(t, scaleDownWithin)
	ctx := context.Background()
	if err := cluster.DisableWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cluster.EnableWebhook(ctx); err != nil {
			t.Fatalf("re-enabling the webhook: %v", err)
		}
	}()
	start := time.Now()
	runs, outs := threeJobs(t, "off")
	nodes := nodesByName()
	cross, total, spotDrivers := 0, 0, 0
	for i, run := range runs {
		ns := fmt.Sprintf("off-%d", i+1)
		requireCorrect(t, ns, run, outs[i])
		drv := nodes[run.Driver.Node]
		if drv.Capacity == v1alpha1.CapacitySpot {
			spotDrivers++
		}
		execs := ranExecutors(run)
		for _, e := range execs {
			total++
			if nodes[e.Node].Zone != drv.Zone {
				cross++
			}
		}
		t.Logf("%s: driver on %s (%s %s %s), executors on %s", ns, drv.Name, drv.Zone, drv.Capacity, drv.InstanceType, executorNodes(execs, nodes))
	}
	launched := launchedSince(start)
	counts := capacityCounts(launched)
	t.Logf("AUTOSCALED-WEBHOOK-OFF cross-zone executors: %d of %d; drivers on spot: %d of 3; nodes launched: %d (%d on-demand, %d spot):%s",
		cross, total, spotDrivers, len(launched), counts[v1alpha1.CapacityOnDemand], counts[v1alpha1.CapacitySpot], summarize(launched))
}

// executorNodes says where executors ran: "1@node(zone capacity) ...".
func executorNodes(execs []localcluster.PodRecord, nodes map[string]localcluster.Node) string {
	var parts []string
	for _, e := range execs {
		n := nodes[e.Node]
		parts = append(parts, fmt.Sprintf("%d@%s(%s %s %s)", e.ExecID, n.Name, n.Zone, n.Capacity, n.InstanceType))
	}
	return strings.Join(parts, " ")
}
