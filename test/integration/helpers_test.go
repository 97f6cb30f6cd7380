package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// node is one virtual node in a test's layout.
type node struct {
	zone     string
	capacity v1alpha1.CapacityType
	cpu      string
	labels   map[string]string
}

// createNodes creates the nodes (named after the test) and deletes them at
// cleanup. It returns name -> node.
func createNodes(t *testing.T, nodes ...node) map[string]node {
	t.Helper()
	ctx := context.Background()
	out := map[string]node{}
	for i, n := range nodes {
		name := fmt.Sprintf("n%d-%s-%s", i, n.zone, n.capacity)
		lbls := shared.cfg.Provider.NodeLabels(n.capacity)
		for k, v := range n.labels {
			lbls[k] = v
		}
		if _, err := shared.cp.CreateNode(ctx, controlplane.NodeSpec{Name: name, Zone: n.zone, CPU: n.cpu, Memory: "256Gi", Labels: lbls}); err != nil {
			t.Fatalf("creating node %s: %v", name, err)
		}
		out[name] = n
	}
	t.Cleanup(func() {
		for name := range out {
			_ = shared.cp.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
		}
	})
	return out
}

// perZone is one on-demand and (when spotCPU != "") one spot node per zone.
func perZone(zones []string, onDemandCPU, spotCPU string) []node {
	var out []node
	for _, z := range zones {
		out = append(out, node{zone: z, capacity: v1alpha1.CapacityOnDemand, cpu: onDemandCPU})
		if spotCPU != "" {
			out = append(out, node{zone: z, capacity: v1alpha1.CapacitySpot, cpu: spotCPU})
		}
	}
	return out
}

func startApp(t *testing.T, app sparksim.App) *sparksim.Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := sparksim.Start(ctx, shared.cp.Client, app)
	if err != nil {
		t.Fatalf("starting app %s: %v", app.Name, err)
	}
	t.Cleanup(d.Stop)
	return d
}

// waitExecutors waits until the app has n live executors, all bound, and
// returns them.
func waitExecutors(t *testing.T, d *sparksim.Driver, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var bound []corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := d.ExecutorPods(ctx)
		if err != nil {
			return false, err
		}
		bound = bound[:0]
		for _, p := range pods {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" {
				bound = append(bound, p)
			}
		}
		return len(bound) == n && len(pods) == n, nil
	})
	if err != nil {
		pods, _ := d.ExecutorPods(context.Background())
		for _, p := range pods {
			t.Logf("executor %s node=%q conditions=%v decision=%q", p.Name, p.Spec.NodeName, p.Status.Conditions, p.Annotations["sparkplane.io/decision"])
		}
		t.Fatalf("app %s: %d of %d executors bound after %s (driver err: %v)", d.App.Name, len(bound), n, timeout, d.Err())
	}
	return bound
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := shared.cp.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting pod %s/%s: %v", ns, name, err)
	}
	return p
}
