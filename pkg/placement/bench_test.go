package placement

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// BenchmarkDecide measures one decision per pod shape (ns/op, allocs/op).
// Run: go test ./pkg/placement -run XXX -bench Decide -benchmem
func BenchmarkDecide(b *testing.B) {
	cfg := v1alpha1.Default()
	template := func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"team": "data"}
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disktype", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
		}}}
	}
	cases := []struct {
		name string
		in   Input
	}{
		{"driver", Input{Pod: sparkPod("driver")}},
		{"executor-pinned", Input{Pod: sparkPod("executor"), Driver: boundDriver("zone-a")}},
		{"executor-template", Input{Pod: sparkPod("executor", template), Driver: boundDriver("zone-a")}},
		{"executor-client-mode", Input{Pod: sparkPod("executor")}},
		{"non-spark", Input{Pod: &corev1.Pod{}}},
	}
	for _, c := range cases {
		c.in.Config = cfg
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if d := Decide(c.in); d.Pod == nil {
					b.Fatal("no pod")
				}
			}
		})
	}
}
