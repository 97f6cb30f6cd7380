package podvalidation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// pod is a defaulted pod as the API server hands it to admission.
func pod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "exec-1", Namespace: "default", Labels: map[string]string{"spark-role": "executor"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSClusterFirst, SchedulerName: "default-scheduler",
			TerminationGracePeriodSeconds: new(int64(30)), SecurityContext: &corev1.PodSecurityContext{},
			Containers: []corev1.Container{{
				Name: "spark-kubernetes-executor", Image: "spark:3.5.9", Args: []string{"executor"},
				ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				TerminationMessagePath: corev1.TerminationMessagePathDefault,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1408Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1408Mi")},
				},
			}},
		},
	}
}

func TestIntroduced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		want   string // substring of the only error; "" for none
	}{
		{"unchanged", func(*corev1.Pod) {}, ""},
		{"valid toleration and zone", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "kubernetes.azure.com/scalesetpriority", Operator: corev1.TolerationOpEqual, Value: "spot", Effect: corev1.TaintEffectNoSchedule})
			p.Spec.NodeSelector = map[string]string{"topology.kubernetes.io/zone": "zone-a"}
		}, ""},
		{"bogus toleration operator", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: "Bogus", Effect: "Sometimes"})
		}, "spec.tolerations[0].operator"},
		{"bad node selector key", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"not a key": "x"}
		}, "spec.nodeSelector"},
		{"bad affinity operator", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "k", Operator: corev1.NodeSelectorOpIn}}}},
			}}}
		}, "values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := pod()
			mutated := orig.DeepCopy()
			tc.mutate(mutated)
			errs := Introduced(orig, mutated)
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatalf("want no errors, got %v", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("want an error about %q, got %v", tc.want, errs)
			}
		})
	}
}

// An error the pod had before the mutation is the owner's, not the mutation's.
func TestIntroducedIgnoresExistingErrors(t *testing.T) {
	orig := pod()
	orig.Spec.Tolerations = []corev1.Toleration{{Operator: "Bogus"}}
	mutated := orig.DeepCopy()
	mutated.Spec.NodeSelector = map[string]string{"topology.kubernetes.io/zone": "zone-a"}
	if len(Pod(orig)) == 0 {
		t.Fatal("the original pod should be invalid")
	}
	if errs := Introduced(orig, mutated); len(errs) != 0 {
		t.Fatalf("want no introduced errors, got %v", errs)
	}
}

func TestFields(t *testing.T) {
	p := field.NewPath("provider", "spotTolerations")
	for _, tc := range []struct {
		name string
		errs field.ErrorList
		want string
	}{
		{"toleration ok", Tolerations(p, []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists}}), ""},
		{"toleration operator", Tolerations(p, []corev1.Toleration{{Key: "", Operator: "Bogus", Effect: "Sometimes"}}), "provider.spotTolerations[0].operator"},
		{"toleration effect", Tolerations(p, []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists, Effect: "Sometimes"}}), "provider.spotTolerations[0].effect"},
		{"requirement ok", NodeSelectorRequirement(field.NewPath("r"), corev1.NodeSelectorRequirement{Key: "k", Operator: corev1.NodeSelectorOpIn, Values: []string{"v"}}), ""},
		{"requirement no values", NodeSelectorRequirement(field.NewPath("r"), corev1.NodeSelectorRequirement{Key: "k", Operator: corev1.NodeSelectorOpIn}), "r.values"},
		{"label key", LabelKey(field.NewPath("zoneLabel"), "bad key"), "zoneLabel"},
		{"label value", LabelValue(field.NewPath("spotValue"), "not valid!"), "spotValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if len(tc.errs) != 0 {
					t.Fatalf("want no errors, got %v", tc.errs)
				}
				return
			}
			if len(tc.errs) == 0 || !strings.Contains(tc.errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, tc.errs)
			}
		})
	}
}
