package autoscaler

import (
	"context"
	corev1 "k8s.io/api/core/v1"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
)

// TestRenderedObjectsAcceptedByCRDs: every option pkg/karpenter renders is
// accepted by Karpenter's own CRD schemas and CEL rules (server-side dry
// run, so the package's pool stays the only one).
func TestRenderedObjectsAcceptedByCRDs(t *testing.T) {
	weight := int32(50)
	nc, err := karpenter.RenderNodeClass(karpenter.NodeClassOptions{Name: "slow", RegistrationDelay: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pools := []karpenter.NodePoolOptions{
		{Name: "minimal", NodeClass: nodeClass},
		{
			Name: "every-option", NodeClass: nodeClass, CapacityTypes: []string{karpenter.CapacityOnDemand}, Zones: zones[:2],
			ConsolidationPolicy: karpenter.ConsolidateWhenEmptyOrUnderutilized, ConsolidateAfter: "1m30s",
			Budgets: []karpenter.Budget{
				{Nodes: "100%"},
				{Nodes: "0", Reasons: []string{"Underutilized", "Drifted"}, Schedule: "0 9 * * 1-5", Duration: "8h"},
			},
			Limits: map[string]string{"cpu": "64", "memory": "256Gi"}, Weight: &weight,
			Labels: map[string]string{"sparkplane.io/pool": "drivers"},
			Taints: []corev1.Taint{{Key: "dedicated", Value: "spark", Effect: corev1.TaintEffectNoSchedule}, {Key: "spot-only", Effect: corev1.TaintEffectPreferNoSchedule}},
		},
		{Name: "never", NodeClass: nodeClass, ConsolidationPolicy: karpenter.ConsolidateBalanced, ConsolidateAfter: "Never"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	u, err := karpenter.ToUnstructured(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared.dyn.Resource(nodeClassGVR).Create(ctx, u, dryRun); err != nil {
		t.Errorf("KWOKNodeClass %s rejected: %v", nc.Metadata.Name, err)
	}
	for _, o := range pools {
		np, err := karpenter.RenderNodePool(o)
		if err != nil {
			t.Fatal(err)
		}
		u, err := karpenter.ToUnstructured(np)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := shared.dyn.Resource(nodePoolGVR).Create(ctx, u, dryRun); err != nil {
			t.Errorf("NodePool %s rejected: %v", o.Name, err)
		}
	}
}
