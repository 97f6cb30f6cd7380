package placement

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// FuzzDecide feeds arbitrary pod shapes (nil and empty affinities, odd terms
// and operators, huge label sets, any annotations) through Decide: it must
// not panic, must not modify its input, and must be idempotent.
// Seeds live in testdata/fuzz/FuzzDecide.
func FuzzDecide(f *testing.F) {
	f.Add([]byte(`{"metadata":{"labels":{"spark-role":"executor","spark-app-selector":"a"}}}`), "zone-a", "node-1", false)
	on := true
	cfgs := []*v1alpha1.SparkplaneConfiguration{v1alpha1.Default(), cfgWith(func(c *v1alpha1.SparkplaneConfiguration) {
		c.Provider.Preset, c.SchedulerName = "aks", "sparkplane"
	}), cfgWith(preset("custom"), func(c *v1alpha1.SparkplaneConfiguration) { c.DisruptionProtection.Executor = &on })}
	f.Fuzz(func(t *testing.T, podJSON []byte, zone, node string, escaped bool) {
		pod := &corev1.Pod{}
		if err := json.Unmarshal(podJSON, pod); err != nil {
			return
		}
		for _, cfg := range cfgs {
			in := Input{Pod: pod, Config: cfg}
			if node != "" || zone != "" {
				in.Driver = &DriverInfo{Name: "d", Via: "ownerReference", NodeName: node, Zone: zone, Annotations: pod.Annotations}
			}
			if escaped {
				in.AppFallback = "escaped"
			}
			before := pod.DeepCopy()
			d := Decide(in)
			if !equality.Semantic.DeepEqual(before, pod) {
				t.Fatal("Decide modified its input")
			}
			if d.Pod == nil {
				if d.Denied == "" {
					t.Fatal("no pod and no denial")
				}
				continue
			}
			in.Pod = d.Pod
			if d2 := Decide(in); !equality.Semantic.DeepEqual(d2.Pod, d.Pod) {
				t.Fatalf("not idempotent for %s", podJSON)
			}
		}
	})
}
