package autoscaler

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// TestEscapeWhenZoneCannotBeProvisioned: the driver's zone is one no
// NodePool may launch executor nodes in. Pinned there by the webhook, the
// executors stay unschedulable (Karpenter launches nothing for them); the
// availability escape deletes them after its window and the replacements,
// released to a zone preference, get nodes Karpenter launches in another
// zone. The app does not wait forever.
func TestEscapeWhenZoneCannotBeProvisioned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	client := shared.cp.Client
	ns := shared.cp.Namespace(t)

	// Drivers of this test only on pool esc-driver (zone-c); executors only
	// on pool esc-exec, which excludes zone-c.
	const poolLabel = "sparkplane.io/test-pool"
	pools := []karpenter.NodePoolOptions{
		{Name: "esc-driver", CapacityTypes: []string{karpenter.CapacityOnDemand}, Zones: []string{"zone-c"}, Labels: map[string]string{poolLabel: "esc-driver"}},
		{Name: "esc-exec", Zones: []string{"zone-a", "zone-b"}, Labels: map[string]string{poolLabel: "esc-exec"}},
	}
	// Tainted, so that the package's other pods never use these pools.
	taint := corev1.Taint{Key: poolLabel, Value: "escape", Effect: corev1.TaintEffectNoSchedule}
	for i := range pools {
		pools[i].ConsolidationPolicy, pools[i].ConsolidateAfter = karpenter.ConsolidateWhenEmpty, "Never"
		pools[i].Taints = []corev1.Taint{taint}
	}
	if err := localcluster.ApplyNodeClassAndPools(ctx, shared.dyn, karpenter.NodeClassOptions{Name: "esc"}, pools); err != nil {
		t.Fatal(err)
	}
	// Cleanup: the nodes of these pools go first (this control plane has no
	// garbage collector to follow the NodeClaims' owner references), so
	// that the package's other tests never land on them.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// No kubelet here finishes a graceful deletion: the app's pods go
		// at once, else Karpenter's drain would wait for them.
		_ = shared.cp.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		sel := metav1.ListOptions{LabelSelector: karpenter.LabelNodePool + " in (esc-driver,esc-exec)"}
		if err := shared.dyn.Resource(nodeClaimGVR).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
			t.Errorf("deleting the test's NodeClaims: %v", err)
		}
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			nodes, err := shared.cp.Client.CoreV1().Nodes().List(ctx, sel)
			return err == nil && len(nodes.Items) == 0, nil
		})
		if err != nil {
			t.Errorf("the test's nodes were not removed: %v", err)
		}
		for _, p := range pools {
			_ = shared.dyn.Resource(nodePoolGVR).Delete(ctx, p.Name, metav1.DeleteOptions{})
		}
		_ = shared.dyn.Resource(nodeClassGVR).Delete(ctx, "esc", metav1.DeleteOptions{})
	})

	selector := func(pool string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{poolLabel: pool}
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: taint.Key, Value: taint.Value, Effect: taint.Effect})
		}
	}
	d, err := sparksim.Start(ctx, client, sparksim.App{
		Namespace: ns, Name: "nozone", Executors: 2, BatchDelay: 200 * time.Millisecond,
		DriverCPU: "500m", ExecutorCPU: "500m", DriverMemory: "512Mi", ExecutorMemory: "512Mi",
		DriverTemplate: selector("esc-driver"), ExecutorTemplate: selector("esc-exec"),
	})
	if err != nil {
		t.Fatalf("starting the app: %v", err)
	}
	t.Cleanup(d.Stop)
	start := time.Now()

	var execs []corev1.Pod
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := d.ExecutorPods(ctx)
		if err != nil {
			return false, nil
		}
		execs = execs[:0]
		for _, p := range pods {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" {
				execs = append(execs, p)
			}
		}
		return len(execs) == 2 && len(pods) == 2, nil
	})
	if err != nil {
		pods, _ := d.ExecutorPods(context.Background())
		for _, p := range pods {
			t.Logf("executor %s node=%q decision=%q", p.Name, p.Spec.NodeName, p.Annotations[placement.AnnotationDecision])
		}
		t.Fatalf("executors never ran (Karpenter's log: %s): %v", shared.logFile, err)
	}
	t.Logf("executors running %s after submission (escape window %s); created %d executors", time.Since(start).Round(100*time.Millisecond), escapeWindow, d.Created())

	drv, err := client.CoreV1().Pods(ns).Get(ctx, d.Pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	driverNode, err := client.CoreV1().Nodes().Get(ctx, drv.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if z := driverNode.Labels[corev1.LabelTopologyZone]; z != "zone-c" {
		t.Fatalf("driver in %q, want zone-c (its pool's only zone)", z)
	}
	for _, e := range execs {
		n, err := client.CoreV1().Nodes().Get(ctx, e.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if z, pool := n.Labels[corev1.LabelTopologyZone], n.Labels[karpenter.LabelNodePool]; z == "zone-c" || pool != "esc-exec" {
			t.Errorf("executor %s on %s: zone %q, pool %q; want a node of esc-exec outside zone-c", e.Name, n.Name, z, pool)
		}
		if e.Annotations[placement.AnnotationZoneMode] != string(placement.ZoneEscaped) {
			t.Errorf("executor %s zone mode %q, want %q", e.Name, e.Annotations[placement.AnnotationZoneMode], placement.ZoneEscaped)
		}
	}
	if d.Created() <= 2 {
		t.Errorf("driver created %d executors; the stuck ones should have been deleted and replaced", d.Created())
	}
	if !strings.Contains(drv.Annotations[placement.AnnotationZoneFallback], "unschedulable in zone zone-c") {
		t.Errorf("driver's fallback mark %q", drv.Annotations[placement.AnnotationZoneFallback])
	}
}
