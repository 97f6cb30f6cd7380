package placement

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// DecideExecutor's rule is what the scheduler enforces: the zone and its
// strength, and the capacity rule sparkplane (not the pod) is to enforce.
func TestDecideExecutor(t *testing.T) {
	spotPreferred := v1alpha1.CapacityRule{CapacityType: v1alpha1.CapacitySpot, Mode: v1alpha1.ModePreferred}
	off := v1alpha1.CapacityRule{Mode: v1alpha1.ModeOff}
	tests := []struct {
		name     string
		in       Input
		zone     string
		outcome  ZoneOutcome
		mode     v1alpha1.Mode
		required string
		capacity v1alpha1.CapacityRule
		protect  bool
	}{
		{"defaults", Input{Pod: sparkPod("executor"), Driver: boundDriver("zone-b")},
			"zone-b", ZoneRequired, v1alpha1.ModeRequired, "zone-b", spotPreferred, false},
		{"escape", Input{Pod: sparkPod("executor"), Driver: boundDriver("zone-b"), AppFallback: "stuck"},
			"zone-b", ZoneEscaped, v1alpha1.ModePreferred, "", spotPreferred, false},
		{"executor override off", Input{Pod: sparkPod("executor", withAnnotation(AnnotationZonePinning, "off")), Driver: boundDriver("zone-b")},
			"", ZoneOff, v1alpha1.ModeOff, "", spotPreferred, false},
		{"client mode", Input{Pod: sparkPod("executor")},
			"", ZoneAppAffinity, v1alpha1.ModeRequired, "", spotPreferred, false},
		{"pod's own capacity selector", Input{Pod: sparkPod("executor", withAnnotation(AnnotationExecutorCapacity, "spot"), func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"karpenter.sh/capacity-type": "on-demand"}
		}), Driver: boundDriver("zone-b")},
			"zone-b", ZoneRequired, v1alpha1.ModeRequired, "zone-b", off, false},
		{"executor protection override", Input{Pod: sparkPod("executor", withAnnotation(AnnotationExecutorProtection, "on")), Driver: boundDriver("zone-b")},
			"zone-b", ZoneRequired, v1alpha1.ModeRequired, "zone-b", spotPreferred, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Config = v1alpha1.Default()
			before := tt.in.Pod.DeepCopy()
			r := DecideExecutor(tt.in)
			if !equality.Semantic.DeepEqual(before, tt.in.Pod) {
				t.Fatal("DecideExecutor modified its input pod")
			}
			if r.Zone != tt.zone || r.ZoneOutcome != tt.outcome || r.ZoneMode != tt.mode || r.RequiredZone() != tt.required || r.Capacity != tt.capacity || r.Protect != tt.protect {
				t.Errorf("got zone %q outcome %q mode %q required %q capacity %+v protect %v; want %q %q %q %q %+v %v",
					r.Zone, r.ZoneOutcome, r.ZoneMode, r.RequiredZone(), r.Capacity, r.Protect, tt.zone, tt.outcome, tt.mode, tt.required, tt.capacity, tt.protect)
			}
			// Decide writes exactly this rule into the pod.
			if d := Decide(tt.in); d.Zone != r.Zone || d.ZoneOutcome != r.ZoneOutcome {
				t.Errorf("Decide: zone %q outcome %q, DecideExecutor: %q %q", d.Zone, d.ZoneOutcome, r.Zone, r.ZoneOutcome)
			}
		})
	}
}
