package autoscaler

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// TestInterruptKarpenterNode: 'local interrupt' on a node the real Karpenter
// launched deletes its NodeClaim, Karpenter evicts the node's pod and
// removes the node; a pod that cannot leave (no kubelet here finishes its
// graceful deletion) is lost when the notice runs out, as on AWS.
func TestInterruptKarpenterNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := shared.cp.Client
	ns := shared.cp.Namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: ns},
		Spec: corev1.PodSpec{
			Affinity: affinity(zones[1], karpenter.CapacitySpot, ""),
			Containers: []corev1.Container{{Name: "c", Image: "pause", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			}}},
		},
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var node string
	poll(ctx, t, "pod bound to a node Karpenter launched", func() bool {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil {
			node = p.Spec.NodeName
		}
		return node != ""
	})
	claimsBefore := nodeClaimNames(ctx, t)

	res, err := localcluster.Interrupt(ctx, client, shared.dyn, node, localcluster.InterruptOptions{Notice: 5 * time.Second})
	if err != nil {
		t.Fatalf("Interrupt(%s): %v (Karpenter's log: %s)", node, err, shared.logFile)
	}
	t.Logf("interrupted %s: NodeClaim %s, evicted %v, lost %v, in %s", node, res.NodeClaim, res.Evicted, res.Killed, res.Took.Round(100*time.Millisecond))
	if !claimsBefore.Has(res.NodeClaim) {
		t.Errorf("NodeClaim %q is not one of %v", res.NodeClaim, claimsBefore.UnsortedList())
	}
	if nodeClaimNames(ctx, t).Has(res.NodeClaim) {
		t.Errorf("NodeClaim %s still exists after the interruption", res.NodeClaim)
	}
	if _, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node %s still exists after the interruption: %v", node, err)
	}
	if want := ns + "/" + pod.Name; !slices.Contains(res.Killed, want) {
		t.Errorf("lost pods %v, want %s (nothing here completes its eviction)", res.Killed, want)
	}
	if _, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod %s still exists: %v", pod.Name, err)
	}

	// A node that does not exist is refused with the command to list them.
	if _, err := localcluster.Interrupt(ctx, client, shared.dyn, "no-such-node", localcluster.InterruptOptions{}); err == nil || !strings.Contains(err.Error(), `node "no-such-node": no such node (list them: kubectl get nodes`) {
		t.Errorf("Interrupt of a missing node: %v", err)
	}
}
