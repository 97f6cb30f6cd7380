package e2e

import (
	"context"
	"github.com/sparkplane/sparkplane/test/testkit"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
)

// 1. Static executors: right answer; every executor in its driver's zone;
// driver on on-demand, executors on spot.
func TestStaticExecutors(t *testing.T) {
	requireSpark(t)
	args := append(smallJob("static", "spark.executor.instances=3"), app, "1", "6", "1", "0", "200000")
	run, _ := runJob(t, "static", args, nil)
	requireCorrect(t, "static", run)
	requireFollowDriver(t, run, true)
	for _, e := range run.Executors {
		if e.Ran && !strings.Contains(e.Annotations[placement.AnnotationDecision], "required: driver") {
			t.Errorf("executor %d decision %q", e.ExecID, e.Annotations[placement.AnnotationDecision])
		}
	}
}

// 2. Dynamic allocation: up to >= 3 executors, idle ones removed, later ones
// added again, all in the driver's zone.
func TestDynamicAllocation(t *testing.T) {
	requireSpark(t)
	args := append(smallJob("dynamic",
		"spark.dynamicAllocation.enabled=true",
		"spark.dynamicAllocation.shuffleTracking.enabled=true",
		"spark.dynamicAllocation.shuffleTracking.timeout=5s",
		"spark.dynamicAllocation.minExecutors=1",
		"spark.dynamicAllocation.initialExecutors=1",
		"spark.dynamicAllocation.maxExecutors=4",
		"spark.dynamicAllocation.executorIdleTimeout=5s",
		"spark.dynamicAllocation.schedulerBacklogTimeout=1s",
	), app, "2", "12", "2", "25", "200000")

	// Watch the number of live executors over time.
	var peak1, trough, peak2 int
	phase := 0
	sample := func(ctx context.Context) {
		for ctx.Err() == nil {
			pods, err := cluster.Client.CoreV1().Pods("dynamic").List(ctx, metav1.ListOptions{LabelSelector: "spark-role=executor"})
			if err == nil {
				live := 0
				for _, p := range pods.Items {
					if p.DeletionTimestamp == nil && p.Status.Phase == "Running" {
						live++
					}
				}
				switch {
				case phase == 0 && live >= 3:
					phase, peak1 = 1, live
				case phase == 1 && live > peak1:
					peak1 = live
				case phase == 1 && live <= 1:
					phase, trough = 2, live
				case phase == 2 && live >= 2:
					phase, peak2 = 3, live
				case phase == 3 && live > peak2:
					peak2 = live
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	run, _ := runJob(t, "dynamic", args, sample)
	requireCorrect(t, "dynamic", run)
	requireFollowDriver(t, run, true)
	t.Logf("live executors: first peak %d, trough %d, second peak %d; %d executors in all", peak1, trough, peak2, len(run.Executors))
	if peak1 < 3 || phase < 3 {
		t.Errorf("dynamic allocation: first peak %d (want >= 3), reached phase %d (want 3: up, idle down to 1, up again)", peak1, phase)
	}
}

// 3. Spot interruption: the node of a running executor is deleted mid-job;
// Spark replaces the executor in the driver's zone and the job completes.
func TestSpotInterruption(t *testing.T) {
	requireSpark(t)
	args := append(smallJob("spot", "spark.executor.instances=2"), app, "1", "8", "6", "0", "200000")
	var killed string
	interrupt := func(ctx context.Context) {
		for ctx.Err() == nil {
			pods, err := cluster.Client.CoreV1().Pods("spot").List(ctx, metav1.ListOptions{})
			if err == nil {
				driverNode := ""
				for _, p := range pods.Items {
					if p.Labels["spark-role"] == "driver" {
						driverNode = p.Spec.NodeName
					}
				}
				for _, p := range pods.Items {
					if p.Labels["spark-role"] == "executor" && p.Status.Phase == "Running" && p.Spec.NodeName != driverNode && driverNode != "" {
						time.Sleep(3 * time.Second) // let it take tasks
						killed = p.Spec.NodeName
						if err := cluster.DeleteNode(ctx, killed); err != nil {
							t.Errorf("deleting node: %v", err)
						}
						return
					}
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	run, _ := runJob(t, "spot", args, interrupt)
	requireCorrect(t, "spot", run)
	drv := requireFollowDriver(t, run, false)
	if killed == "" {
		t.Fatal("no executor node was interrupted")
	}
	// Give the cluster its capacity back for later tests.
	n := nodesByName()[killed]
	if _, err := cluster.AddNode(context.Background(), n.Zone, n.Capacity); err != nil {
		t.Fatal(err)
	}
	replaced := false
	for _, e := range run.Executors {
		if e.ExecID > 2 && e.Ran {
			replaced = true
			if zone := nodesByName()[e.Node].Zone; zone != drv.Zone {
				t.Errorf("replacement executor %d in %s, driver in %s", e.ExecID, zone, drv.Zone)
			}
		}
	}
	if !replaced {
		t.Errorf("no replacement executor ran after node %s was deleted: %+v", killed, run.Executors)
	}
}

// 4. Availability: the driver's zone has no room for executors; the
// webhook's availability escape lets the job complete.
func TestAvailabilityEscape(t *testing.T) {
	requireSpark(t)
	ctx := context.Background()
	node, err := cluster.AddNodeWithCPU(ctx, "zone-d", v1alpha1.CapacityOnDemand, "1") // the driver fits, nothing else
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cluster.DeleteNode(ctx, node) }()
	args := append(smallJob("escape", "spark.executor.instances=2",
		"spark.kubernetes.driver.node.selector.topology.kubernetes.io/zone=zone-d"), app, "1", "4", "1", "0", "100000")
	run, _ := runJob(t, "escape", args, nil)
	requireCorrect(t, "escape", run)
	nodes := nodesByName()
	if nodes[run.Driver.Node].Zone != "zone-d" {
		t.Fatalf("driver ran in %s", nodes[run.Driver.Node].Zone)
	}
	escaped := 0
	for _, e := range run.Executors {
		if e.Ran {
			if e.Annotations[placement.AnnotationZoneMode] != string(placement.ZoneEscaped) {
				t.Errorf("executor %d ran with zone mode %q", e.ExecID, e.Annotations[placement.AnnotationZoneMode])
			}
			escaped++
		}
	}
	if escaped == 0 {
		t.Error("no executor ran")
	}
	if !strings.Contains(run.Driver.Annotations[placement.AnnotationZoneFallback], "unschedulable in zone zone-d") {
		t.Errorf("driver mark %q", run.Driver.Annotations[placement.AnnotationZoneFallback])
	}
	t.Logf("job completed in %s with %d executors outside zone-d (escape window %s)", run.Duration.Round(time.Second), escaped, escapeWindow)
}

// 5. Client mode: the driver runs outside the cluster (here, the
// spark-submit JVM), there is no driver pod; executors share one zone.
func TestClientMode(t *testing.T) {
	requireSpark(t)
	args := append([]string{"--deploy-mode", "client"}, smallJob("client", "spark.executor.instances=3",
		"spark.driver.host=127.0.0.1", "spark.driver.bindAddress=127.0.0.1")...)
	args = append(args, app, "1", "6", "1", "0", "100000")
	run, out := runJob(t, "client", args, nil)
	if !strings.Contains(out, "ok=True") {
		t.Errorf("client-mode job answer not found or wrong:\n%s", testkit.Tail(out, 20))
	}
	if run.Driver != nil {
		t.Errorf("client mode created a driver pod %s", run.Driver.Name)
	}
	zones := map[string]int{}
	for _, e := range run.Executors {
		if e.Ran {
			zones[nodesByName()[e.Node].Zone]++
			if e.Annotations[placement.AnnotationZoneMode] != string(placement.ZoneAppAffinity) {
				t.Errorf("executor %d zone mode %q", e.ExecID, e.Annotations[placement.AnnotationZoneMode])
			}
		}
	}
	if len(zones) != 1 {
		t.Errorf("client-mode executors ran in zones %v", zones)
	}
}
