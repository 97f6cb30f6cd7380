package placement

import (
	"maps"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

const (
	doNotDisrupt = "karpenter.sh/do-not-disrupt"
	safeToEvict  = "cluster-autoscaler.kubernetes.io/safe-to-evict"
)

func preset(name string) func(*v1alpha1.SparkplaneConfiguration) {
	return func(c *v1alpha1.SparkplaneConfiguration) {
		c.Provider.Preset = name
		if name == v1alpha1.ProviderCustom {
			c.Provider.Label, c.Provider.SpotValue = "example.com/capacity", "spot"
		}
	}
}

// TestDisruptionProtection: drivers are protected from voluntary disruption
// with the annotation their autoscaler reads, executors are not by default,
// per-app annotations turn it on or off, and an annotation the pod already
// has is never overwritten.
func TestDisruptionProtection(t *testing.T) {
	off := false
	tests := []struct {
		name     string
		in       Input
		want     map[string]string // protection annotations expected on the pod
		reason   string            // substring of the explanation
		ignored  string            // substring of the one Ignored message, if any
		denied   string            // substring of Denied, if denied
		noReason string            // substring the explanation must not have
	}{
		{name: "driver, karpenter preset", in: Input{Pod: sparkPod("driver")},
			want:   map[string]string{doNotDisrupt: "true"},
			reason: "protected from voluntary disruption: karpenter.sh/do-not-disrupt=true (config driver)"},
		{name: "driver, eks preset", in: Input{Pod: sparkPod("driver"), Config: cfgWith(preset("eks"))},
			want:   map[string]string{safeToEvict: "false"},
			reason: "protected from voluntary disruption: cluster-autoscaler.kubernetes.io/safe-to-evict=false (config driver)"},
		{name: "driver, gke preset", in: Input{Pod: sparkPod("driver"), Config: cfgWith(preset("gke"))},
			want: map[string]string{safeToEvict: "false"}},
		{name: "driver, aks preset", in: Input{Pod: sparkPod("driver"), Config: cfgWith(preset("aks"))},
			want: map[string]string{safeToEvict: "false"}},
		{name: "driver, custom preset writes both", in: Input{Pod: sparkPod("driver"), Config: cfgWith(preset("custom"))},
			want:   map[string]string{doNotDisrupt: "true", safeToEvict: "false"},
			reason: "protected from voluntary disruption: cluster-autoscaler.kubernetes.io/safe-to-evict=false, karpenter.sh/do-not-disrupt=true (config driver)"},
		{name: "driver, explicit annotations win over the preset", in: Input{Pod: sparkPod("driver"), Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) {
			c.DisruptionProtection.Annotations = map[string]string{"example.com/keep": "yes"}
		})}, want: map[string]string{"example.com/keep": "yes"}},
		{name: "driver, per-app off", in: Input{Pod: sparkPod("driver", withAnnotation(AnnotationDriverProtection, "off"))},
			want:   map[string]string{},
			reason: "not protected from voluntary disruption (pod annotation sparkplane.io/driver-disruption-protection)"},
		{name: "driver, per-app false is off", in: Input{Pod: sparkPod("driver", withAnnotation(AnnotationDriverProtection, "false"))},
			want: map[string]string{}},
		{name: "driver, per-app on when the config is off", in: Input{Pod: sparkPod("driver", withAnnotation(AnnotationDriverProtection, "on")),
			Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) { c.DisruptionProtection.Driver = &off })},
			want:   map[string]string{doNotDisrupt: "true"},
			reason: "karpenter.sh/do-not-disrupt=true (pod annotation sparkplane.io/driver-disruption-protection)"},
		{name: "driver, config off", in: Input{Pod: sparkPod("driver"),
			Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) { c.DisruptionProtection.Driver = &off })},
			want: map[string]string{}, reason: "not protected from voluntary disruption (config driver)"},
		{name: "the pod's own do-not-disrupt=false is kept", in: Input{Pod: sparkPod("driver", withAnnotation(doNotDisrupt, "false"))},
			want:     map[string]string{doNotDisrupt: "false"},
			reason:   "voluntary disruption: the pod's own karpenter.sh/do-not-disrupt=false kept, not overwritten (config driver asks for protection)",
			noReason: "protected from"},
		{name: "the pod's own annotation is kept, the other written", in: Input{Pod: sparkPod("driver", withAnnotation(safeToEvict, "true")), Config: cfgWith(preset("custom"))},
			want:   map[string]string{doNotDisrupt: "true", safeToEvict: "true"},
			reason: "protected from voluntary disruption: karpenter.sh/do-not-disrupt=true (config driver); the pod's own cluster-autoscaler.kubernetes.io/safe-to-evict=true kept, not overwritten"},
		{name: "the pod's own equal value", in: Input{Pod: sparkPod("driver", withAnnotation(doNotDisrupt, "true"))},
			want: map[string]string{doNotDisrupt: "true"}, reason: "protected from voluntary disruption: karpenter.sh/do-not-disrupt=true (config driver)"},
		{name: "invalid per-app value on a driver is denied like every driver annotation", in: Input{Pod: sparkPod("driver", withAnnotation(AnnotationDriverProtection, "maybe"))},
			denied: `annotation sparkplane.io/driver-disruption-protection="maybe" is not valid: allowed values are on (alias: true), off (alias: false)`},
		{name: "executor default: not protected", in: Input{Pod: sparkPod("executor"), Driver: boundDriver("zone-a")},
			want: map[string]string{}, reason: "not protected from voluntary disruption (config executor)"},
		{name: "executor, config on", in: Input{Pod: sparkPod("executor"), Driver: boundDriver("zone-a"), Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) {
			on := true
			c.DisruptionProtection.Executor = &on
		})}, want: map[string]string{doNotDisrupt: "true"}, reason: "karpenter.sh/do-not-disrupt=true (config executor)"},
		{name: "executor, per-app on from the driver", in: Input{Pod: sparkPod("executor"), Driver: &DriverInfo{Name: "d", NodeName: "n", Zone: "z",
			Annotations: map[string]string{AnnotationExecutorProtection: "on"}}},
			want: map[string]string{doNotDisrupt: "true"}, reason: "karpenter.sh/do-not-disrupt=true (driver annotation sparkplane.io/executor-disruption-protection)"},
		{name: "executor, the driver's own protection is not the executors'", in: Input{Pod: sparkPod("executor"), Driver: &DriverInfo{Name: "d", NodeName: "n", Zone: "z",
			Annotations: map[string]string{AnnotationDriverProtection: "on", doNotDisrupt: "true"}}},
			want: map[string]string{}, reason: "not protected from voluntary disruption (config executor)"},
		{name: "executor's own off wins over the driver's on", in: Input{Pod: sparkPod("executor", withAnnotation(AnnotationExecutorProtection, "off")),
			Driver: &DriverInfo{Name: "d", NodeName: "n", Zone: "z", Annotations: map[string]string{AnnotationExecutorProtection: "on"}}},
			want: map[string]string{}, reason: "not protected from voluntary disruption (pod annotation sparkplane.io/executor-disruption-protection)"},
		{name: "invalid per-app value for executors: warned, ignored, default", in: Input{Pod: sparkPod("executor"), Driver: &DriverInfo{Name: "d", NodeName: "n", Zone: "z",
			Annotations: map[string]string{AnnotationExecutorProtection: "always"}}},
			want:    map[string]string{},
			ignored: `driver d: annotation sparkplane.io/executor-disruption-protection="always" is not valid: allowed values are on (alias: true), off (alias: false)`,
			reason:  "not protected from voluntary disruption (config executor)"},
		{name: "empty annotations (a config validation refuses): nothing written, said so", in: Input{Pod: sparkPod("driver"), Config: cfgWith(func(c *v1alpha1.SparkplaneConfiguration) {
			c.DisruptionProtection.Annotations = map[string]string{}
		})}, want: map[string]string{}, reason: "not protected from voluntary disruption: disruptionProtection.annotations is empty (config driver asks for protection)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Config == nil {
				tt.in.Config = v1alpha1.Default()
			}
			before := tt.in.Pod.DeepCopy()
			d := Decide(tt.in)
			if !equality.Semantic.DeepEqual(before, tt.in.Pod) {
				t.Fatal("Decide modified its input pod")
			}
			if tt.denied != "" {
				if d.Pod != nil || !strings.Contains(d.Denied, tt.denied) {
					t.Fatalf("Denied %q, want it to contain %q", d.Denied, tt.denied)
				}
				return
			}
			if d.Denied != "" {
				t.Fatalf("denied: %s", d.Denied)
			}
			got := map[string]string{}
			for _, k := range []string{doNotDisrupt, safeToEvict, "example.com/keep"} {
				if v, ok := d.Pod.Annotations[k]; ok {
					got[k] = v
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("protection annotations %v, want %v", got, tt.want)
			}
			if tt.reason != "" {
				wantReason(t, d, tt.reason)
			}
			if tt.noReason != "" && strings.Contains(d.Explanation(), tt.noReason) {
				t.Errorf("explanation %q contains %q", d.Explanation(), tt.noReason)
			}
			switch {
			case tt.ignored == "" && len(d.Ignored) > 0:
				t.Errorf("ignored %q, want none", d.Ignored)
			case tt.ignored != "" && (len(d.Ignored) != 1 || !strings.Contains(d.Ignored[0], tt.ignored) || len(d.Warnings) != 1):
				t.Errorf("ignored %q warnings %q, want one containing %q", d.Ignored, d.Warnings, tt.ignored)
			}
			again := tt.in
			again.Pod = d.Pod
			if d2 := Decide(again); !equality.Semantic.DeepEqual(d2.Pod, d.Pod) {
				t.Errorf("not idempotent:\nfirst  %v\nsecond %v", d.Pod.Annotations, d2.Pod.Annotations)
			}
		})
	}
}
