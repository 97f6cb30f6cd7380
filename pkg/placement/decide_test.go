package placement

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

const zoneKey = "topology.kubernetes.io/zone"

func sparkPod(role string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p-" + role, Namespace: "ns", Labels: map[string]string{
			"spark-role": role, "spark-app-selector": "spark-0123",
		}},
		Spec: corev1.PodSpec{SchedulerName: corev1.DefaultSchedulerName, Containers: []corev1.Container{{Name: "spark-kubernetes-" + role}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withAnnotation(k, v string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func boundDriver(zone string) *DriverInfo {
	return &DriverInfo{Name: "app-driver", Via: "ownerReference", NodeName: "node-1", Zone: zone}
}

func cfgWith(mods ...func(*v1alpha1.SparkplaneConfiguration)) *v1alpha1.SparkplaneConfiguration {
	c := &v1alpha1.SparkplaneConfiguration{}
	for _, m := range mods {
		m(c)
	}
	v1alpha1.SetDefaults(c)
	return c
}

func required(p *corev1.Pod) []corev1.NodeSelectorTerm { return requiredTerms(p) }

func preferred(p *corev1.Pod) []corev1.PreferredSchedulingTerm {
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil {
		return nil
	}
	return p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
}

func req(key string, op corev1.NodeSelectorOperator, vals ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: vals}
}

var (
	onDemand = req("karpenter.sh/capacity-type", corev1.NodeSelectorOpIn, "on-demand")
	spot     = req("karpenter.sh/capacity-type", corev1.NodeSelectorOpIn, "spot")
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		in    Input
		check func(t *testing.T, d Decision)
	}{
		{
			name: "driver goes to on-demand, required",
			in:   Input{Pod: sparkPod("driver")},
			check: func(t *testing.T, d Decision) {
				wantTerms(t, d.Pod, [][]corev1.NodeSelectorRequirement{{onDemand}})
				if len(preferred(d.Pod)) != 0 {
					t.Errorf("unexpected preferred terms %v", preferred(d.Pod))
				}
				wantReason(t, d, "capacity on-demand required (karpenter.sh/capacity-type In [on-demand]; config driver)")
			},
		},
		{
			name: "driver with invalid annotation is denied naming annotation, value and allowed values",
			in:   Input{Pod: sparkPod("driver", withAnnotation(AnnotationExecutorCapacity, "spotty"))},
			check: func(t *testing.T, d Decision) {
				if d.Pod != nil || !strings.Contains(d.Denied, `sparkplane.io/executor-capacity-type="spotty"`) ||
					!strings.Contains(d.Denied, "on-demand, spot, prefer-on-demand, prefer-spot, any") {
					t.Errorf("Denied = %q", d.Denied)
				}
			},
		},
		{
			name: "driver override to spot brings the AKS toleration",
			in: Input{Pod: sparkPod("driver", withAnnotation(AnnotationDriverCapacity, "spot")),
				Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) { c.Provider.Preset = "aks" })},
			check: func(t *testing.T, d Decision) {
				wantTerms(t, d.Pod, [][]corev1.NodeSelectorRequirement{{req("kubernetes.azure.com/scalesetpriority", corev1.NodeSelectorOpIn, "spot")}})
				if len(d.Pod.Spec.Tolerations) != 1 || d.Pod.Spec.Tolerations[0].Key != "kubernetes.azure.com/scalesetpriority" {
					t.Errorf("tolerations = %v", d.Pod.Spec.Tolerations)
				}
			},
		},
		{
			name: "gke on-demand is 'not spot'",
			in:   Input{Pod: sparkPod("driver"), Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) { c.Provider.Preset = "gke" })},
			check: func(t *testing.T, d Decision) {
				wantTerms(t, d.Pod, [][]corev1.NodeSelectorRequirement{{req("cloud.google.com/gke-spot", corev1.NodeSelectorOpNotIn, "true")}})
			},
		},
		{
			name: "executor follows driver's zone and prefers spot",
			in:   Input{Pod: sparkPod("executor"), Driver: boundDriver("zone-b")},
			check: func(t *testing.T, d Decision) {
				if d.Pod.Spec.NodeSelector[zoneKey] != "zone-b" || len(required(d.Pod)) != 0 {
					t.Errorf("nodeSelector %v, required terms %v; want the zone in the nodeSelector only", d.Pod.Spec.NodeSelector, required(d.Pod))
				}
				if p := preferred(d.Pod); len(p) != 1 || !equality.Semantic.DeepEqual(p[0].Preference.MatchExpressions[0], spot) || p[0].Weight != 100 {
					t.Errorf("preferred = %v", p)
				}
				if d.Zone != "zone-b" || d.ZoneOutcome != ZoneRequired || d.Pod.Annotations[AnnotationZone] != "zone-b" || d.Pod.Annotations[AnnotationZoneMode] != "required" {
					t.Errorf("zone %q outcome %q annotations %v", d.Zone, d.ZoneOutcome, d.Pod.Annotations)
				}
				wantReason(t, d, "zone zone-b required: driver app-driver (found by ownerReference) runs on node node-1 in zone zone-b (config; nodeSelector topology.kubernetes.io/zone=zone-b)")
			},
		},
		{
			name: "template terms and nodeSelector are kept and intersected",
			in: Input{Pod: sparkPod("executor", func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"team": "data"}
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{
						{MatchExpressions: []corev1.NodeSelectorRequirement{req("arch", corev1.NodeSelectorOpIn, "arm64")}},
						{MatchExpressions: []corev1.NodeSelectorRequirement{req(zoneKey, corev1.NodeSelectorOpIn, "zone-a", "zone-b")}},
					}}}}
			}), Driver: boundDriver("zone-b")},
			check: func(t *testing.T, d Decision) {
				// The zone is ANDed through the nodeSelector: every term is kept as it was.
				wantTerms(t, d.Pod, [][]corev1.NodeSelectorRequirement{
					{req("arch", corev1.NodeSelectorOpIn, "arm64")},
					{req(zoneKey, corev1.NodeSelectorOpIn, "zone-a", "zone-b")},
				})
				if d.Pod.Spec.NodeSelector["team"] != "data" || d.Pod.Spec.NodeSelector[zoneKey] != "zone-b" {
					t.Errorf("nodeSelector %v, want team=data kept and the zone added", d.Pod.Spec.NodeSelector)
				}
			},
		},
		{
			name: "user zone nodeSelector that excludes the driver's zone is kept, not pinned",
			in: Input{Pod: sparkPod("executor", func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{zoneKey: "zone-a"}
			}), Driver: boundDriver("zone-b")},
			check: func(t *testing.T, d Decision) {
				if d.ZoneOutcome != ZoneUserConstraint || len(required(d.Pod)) != 0 {
					t.Errorf("outcome %q terms %v", d.ZoneOutcome, required(d.Pod))
				}
				wantReason(t, d, "its nodeSelector topology.kubernetes.io/zone=zone-a")
			},
		},
		{
			name: "user capacity constraint wins",
			in: Input{Pod: sparkPod("executor", func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"karpenter.sh/capacity-type": "on-demand"}
			}), Driver: boundDriver("zone-b")},
			check: func(t *testing.T, d Decision) {
				if len(preferred(d.Pod)) != 0 {
					t.Errorf("preferred = %v", preferred(d.Pod))
				}
				wantReason(t, d, "capacity: left to the pod's own constraint on karpenter.sh/capacity-type")
			},
		},
		{
			name: "no driver: executors share a zone through pod affinity",
			in:   Input{Pod: sparkPod("executor")},
			check: func(t *testing.T, d Decision) {
				pa := d.Pod.Spec.Affinity.PodAffinity
				if d.ZoneOutcome != ZoneAppAffinity || pa == nil || len(pa.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
					pa.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != zoneKey ||
					pa.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels["spark-app-selector"] != "spark-0123" {
					t.Errorf("outcome %q pod affinity %+v", d.ZoneOutcome, pa)
				}
				wantReason(t, d, "no driver pod found (client mode?)")
			},
		},
		{
			name: "driver not bound yet: pod affinity",
			in:   Input{Pod: sparkPod("executor"), Driver: &DriverInfo{Name: "d", Via: "ownerReference"}},
			check: func(t *testing.T, d Decision) {
				if d.ZoneOutcome != ZoneAppAffinity {
					t.Errorf("outcome %q", d.ZoneOutcome)
				}
				wantReason(t, d, "driver d is not bound to a node yet")
			},
		},
		{
			name: "no app id and no driver: nothing to pin",
			in:   Input{Pod: sparkPod("executor", func(p *corev1.Pod) { delete(p.Labels, "spark-app-selector") })},
			check: func(t *testing.T, d Decision) {
				if d.ZoneOutcome != ZoneUnknown || d.Pod.Spec.Affinity.PodAffinity != nil {
					t.Errorf("outcome %q", d.ZoneOutcome)
				}
			},
		},
		{
			name: "driver annotation zone-pinning=preferred is inherited",
			in: Input{Pod: sparkPod("executor"), Driver: &DriverInfo{Name: "d", Via: "ownerReference", NodeName: "n", Zone: "zone-c",
				Annotations: map[string]string{AnnotationZonePinning: "preferred", AnnotationExecutorCapacity: "any"}}},
			check: func(t *testing.T, d Decision) {
				if d.ZoneOutcome != ZonePreferred || len(required(d.Pod)) != 0 {
					t.Errorf("outcome %q required %v", d.ZoneOutcome, required(d.Pod))
				}
				if p := preferred(d.Pod); len(p) != 1 || p[0].Preference.MatchExpressions[0].Values[0] != "zone-c" {
					t.Errorf("preferred %v", p)
				}
				wantReason(t, d, "driver annotation sparkplane.io/zone-pinning")
				wantReason(t, d, "capacity: any (driver annotation sparkplane.io/executor-capacity-type)")
			},
		},
		{
			name: "executor's own annotation wins over driver's",
			in: Input{Pod: sparkPod("executor", withAnnotation(AnnotationZonePinning, "off")),
				Driver: &DriverInfo{Name: "d", NodeName: "n", Zone: "z", Annotations: map[string]string{AnnotationZonePinning: "required"}}},
			check: func(t *testing.T, d Decision) {
				if d.ZoneOutcome != ZoneOff {
					t.Errorf("outcome %q", d.ZoneOutcome)
				}
			},
		},
		{
			name: "invalid executor annotations warn and fall back to defaults",
			in: Input{Pod: sparkPod("executor", withAnnotation(AnnotationZonePinning, "maybe")),
				Driver: &DriverInfo{Name: "d", NodeName: "n", Zone: "z", Annotations: map[string]string{AnnotationExecutorCapacity: "cheap"}}},
			check: func(t *testing.T, d Decision) {
				if d.Denied != "" || len(d.Warnings) != 2 || d.ZoneOutcome != ZoneRequired {
					t.Errorf("denied %q warnings %v outcome %q", d.Denied, d.Warnings, d.ZoneOutcome)
				}
				if !strings.Contains(d.Warnings[0], `sparkplane.io/zone-pinning="maybe"`) || !strings.Contains(d.Warnings[1], `driver d: annotation sparkplane.io/executor-capacity-type="cheap"`) {
					t.Errorf("warnings %q", d.Warnings)
				}
				// The decision annotation, which stays on the pod, says what was ignored.
				wantReason(t, d, `ignored: annotation sparkplane.io/zone-pinning="maybe" is not valid: allowed values are required (alias: on), preferred, off`)
				wantReason(t, d, `ignored: driver d: annotation sparkplane.io/executor-capacity-type="cheap" is not valid`)
				if !strings.Contains(d.Pod.Annotations[AnnotationDecision], `ignored: annotation sparkplane.io/zone-pinning="maybe"`) {
					t.Errorf("decision annotation %q", d.Pod.Annotations[AnnotationDecision])
				}
				if len(d.Ignored) != 2 || !strings.HasPrefix(d.Ignored[1], "driver d: annotation sparkplane.io/executor-capacity-type") {
					t.Errorf("ignored %q", d.Ignored)
				}
			},
		},
		{
			name: "availability escape turns the zone into a preference",
			in:   Input{Pod: sparkPod("executor"), Driver: boundDriver("zone-a"), AppFallback: "3 executors unschedulable in zone-a for 5m0s"},
			check: func(t *testing.T, d Decision) {
				if d.ZoneOutcome != ZoneEscaped || len(required(d.Pod)) != 0 || len(preferred(d.Pod)) != 2 {
					t.Errorf("outcome %q required %v preferred %v", d.ZoneOutcome, required(d.Pod), preferred(d.Pod))
				}
				wantReason(t, d, "availability escape: 3 executors unschedulable")
			},
		},
		{
			name: "driver node without zone label",
			in:   Input{Pod: sparkPod("executor"), Driver: boundDriver("")},
			check: func(t *testing.T, d Decision) {
				if d.ZoneOutcome != ZoneUnknown || len(required(d.Pod)) != 0 {
					t.Errorf("outcome %q", d.ZoneOutcome)
				}
				wantReason(t, d, "has no topology.kubernetes.io/zone label")
			},
		},
		{
			name: "scheduler name replaces the default scheduler only",
			in:   Input{Pod: sparkPod("driver"), Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) { c.SchedulerName = "sparkplane" })},
			check: func(t *testing.T, d Decision) {
				if d.Pod.Spec.SchedulerName != "sparkplane" {
					t.Errorf("schedulerName %q", d.Pod.Spec.SchedulerName)
				}
			},
		},
		{
			name: "another scheduler is kept",
			in: Input{Pod: sparkPod("executor", func(p *corev1.Pod) { p.Spec.SchedulerName = "yunikorn" }), Driver: boundDriver("z"),
				Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) { c.SchedulerName = "sparkplane" })},
			check: func(t *testing.T, d Decision) {
				if d.Pod.Spec.SchedulerName != "yunikorn" {
					t.Errorf("schedulerName %q", d.Pod.Spec.SchedulerName)
				}
				wantReason(t, d, "scheduler yunikorn (the pod's own)")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Config == nil {
				tt.in.Config = v1alpha1.Default()
			}
			before := tt.in.Pod.DeepCopy()
			d := Decide(tt.in)
			if !equality.Semantic.DeepEqual(before, tt.in.Pod) {
				t.Fatalf("Decide modified its input pod")
			}
			tt.check(t, d)
			if d.Pod == nil {
				return
			}
			if d.Pod.Annotations[AnnotationDecision] != d.Explanation() {
				t.Errorf("decision annotation %q != explanation %q", d.Pod.Annotations[AnnotationDecision], d.Explanation())
			}
			again := tt.in
			again.Pod = d.Pod
			if d2 := Decide(again); !equality.Semantic.DeepEqual(d2.Pod, d.Pod) {
				t.Errorf("not idempotent:\nfirst  %+v\nsecond %+v", d.Pod.Spec.Affinity, d2.Pod.Spec.Affinity)
			}
		})
	}
}

func TestDecideLeavesOtherPodsAlone(t *testing.T) {
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "odd", Labels: map[string]string{"spark-role": "shuffle-service"}}},
		{},
	} {
		d := Decide(Input{Pod: p, Config: v1alpha1.Default(), Driver: boundDriver("z")})
		if d.Pod != p || len(d.Reasons) != 0 {
			t.Errorf("pod %q was touched: %+v", p.Name, d)
		}
	}
}

func wantTerms(t *testing.T, p *corev1.Pod, want [][]corev1.NodeSelectorRequirement) {
	t.Helper()
	got := required(p)
	if len(got) != len(want) {
		t.Fatalf("required terms = %v, want %v", got, want)
	}
	for i := range want {
		if !equality.Semantic.DeepEqual(got[i].MatchExpressions, want[i]) {
			t.Errorf("term %d = %v, want %v", i, got[i].MatchExpressions, want[i])
		}
	}
}

func wantReason(t *testing.T, d Decision, substr string) {
	t.Helper()
	if !strings.Contains(d.Explanation(), substr) {
		t.Errorf("explanation %q does not contain %q", d.Explanation(), substr)
	}
}
