package autoscaler

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
)

// TestProvisionsInPodsZone: a pending pod with zone and capacity-type
// constraints makes the real Karpenter launch a node (NodeClaim, then Node)
// that meets them, and the real kube-scheduler binds the pod to it.
func TestProvisionsInPodsZone(t *testing.T) {
	tests := []struct {
		name     string
		affinity *corev1.Affinity
		wantZone string
		wantCap  string
	}{
		{
			name:     "required zone and spot",
			affinity: affinity(zones[0], karpenter.CapacitySpot, ""),
			wantZone: zones[0], wantCap: karpenter.CapacitySpot,
		},
		{
			// Spot is not offered in noSpotZone: Karpenter relaxes the
			// preference and launches on-demand there.
			name:     "spot preferred but not offered in the required zone",
			affinity: affinity(noSpotZone, "", karpenter.CapacitySpot),
			wantZone: noSpotZone, wantCap: karpenter.CapacityOnDemand,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			client := shared.cp.Client
			ns := shared.cp.Namespace(t)
			before := nodeClaimNames(ctx, t)

			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns},
				Spec: corev1.PodSpec{
					Affinity: tt.affinity,
					Containers: []corev1.Container{{Name: "c", Image: "pause", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
					}}},
				},
			}
			start := time.Now()
			if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}

			// A new NodeClaim, then its Node, then the pod bound to it.
			var claim string
			poll(ctx, t, "a new NodeClaim", func() bool {
				for n := range nodeClaimNames(ctx, t) {
					if !before.Has(n) {
						claim = n
						return true
					}
				}
				return false
			})
			toClaim := time.Since(start)
			var node *corev1.Node
			poll(ctx, t, "the Node of NodeClaim "+claim, func() bool {
				nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: corev1.LabelHostname + "=" + claim})
				if err == nil && len(nodes.Items) == 1 {
					node = &nodes.Items[0]
				}
				return node != nil
			})
			toNode := time.Since(start)
			var bound string
			poll(ctx, t, "pod bound to node "+node.Name, func() bool {
				p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
				if err == nil {
					bound = p.Spec.NodeName
				}
				return bound != ""
			})
			toBound := time.Since(start)
			t.Logf("pending pod -> NodeClaim %s: %s, -> Node %s: %s, -> bound: %s",
				claim, toClaim.Round(10*time.Millisecond), node.Name, toNode.Round(10*time.Millisecond), toBound.Round(10*time.Millisecond))

			if bound != node.Name {
				t.Errorf("pod bound to %q, want Karpenter's node %q", bound, node.Name)
			}
			got := node.Labels
			if got[corev1.LabelTopologyZone] != tt.wantZone || got[karpenter.LabelCapacityType] != tt.wantCap {
				t.Errorf("node %s: zone %q, capacity type %q; want %q, %q (labels %v)", node.Name,
					got[corev1.LabelTopologyZone], got[karpenter.LabelCapacityType], tt.wantZone, tt.wantCap, got)
			}
			if got[karpenter.LabelNodePool] != nodePool || node.Spec.ProviderID != karpenter.ProviderIDPrefix+node.Name {
				t.Errorf("node %s: nodepool %q, providerID %q; want %q, %q", node.Name, got[karpenter.LabelNodePool], node.Spec.ProviderID, nodePool, karpenter.ProviderIDPrefix+node.Name)
			}
			if !shared.karp.Running() {
				t.Errorf("Karpenter exited (log: %s)", shared.logFile)
			}
		})
	}
}

// affinity requires zone and, when set, capacity type required; it prefers
// capacity type preferred.
func affinity(zone, required, preferred string) *corev1.Affinity {
	terms := []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}}
	if required != "" {
		terms = append(terms, corev1.NodeSelectorRequirement{Key: karpenter.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{required}})
	}
	na := &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: terms}},
	}}
	if preferred != "" {
		na.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{{Weight: 100, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: karpenter.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{preferred}}},
		}}}
	}
	return &corev1.Affinity{NodeAffinity: na}
}

func nodeClaimNames(ctx context.Context, t *testing.T) sets.Set[string] {
	t.Helper()
	list, err := shared.dyn.Resource(nodeClaimGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing NodeClaims: %v", err)
	}
	names := sets.New[string]()
	for _, c := range list.Items {
		names.Insert(c.GetName())
	}
	return names
}

// poll checks cond every 100ms until it holds, failing the test with what
// and Karpenter's log when ctx ends first.
func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v (Karpenter's log: %s)", what, err, shared.logFile)
	}
}
