package placement

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

// The helpers below only ever add to a pod's constraints, and add nothing
// that is already there, which is what makes Decide idempotent.

func nodeAffinity(pod *corev1.Pod) *corev1.NodeAffinity {
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	if pod.Spec.Affinity.NodeAffinity == nil {
		pod.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	return pod.Spec.Affinity.NodeAffinity
}

func requiredTerms(pod *corev1.Pod) []corev1.NodeSelectorTerm {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
}

// requireZone requires the zone with a nodeSelector entry. It is ANDed with
// the pod's own nodeSelector and node affinity (zoneExcluded has checked
// they allow the zone), and kube-scheduler matches it against node labels
// only, where a node affinity term also builds a field set for every node
// it looks at: for the many executors of a busy cluster, the cheaper form.
func requireZone(pod *corev1.Pod, key, zone string) {
	if pod.Spec.NodeSelector == nil {
		pod.Spec.NodeSelector = map[string]string{}
	}
	pod.Spec.NodeSelector[key] = zone
}

// requireNode intersects req into every required node selector term (terms
// are ORed, so the requirement must hold in each), or creates the one term.
func requireNode(pod *corev1.Pod, req corev1.NodeSelectorRequirement) {
	na := nodeAffinity(pod)
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{req}}},
		}
		return
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		if !containsRequirement(terms[i].MatchExpressions, req) {
			terms[i].MatchExpressions = append(terms[i].MatchExpressions, req)
		}
	}
}

// preferNode adds a preferred term made of req alone.
func preferNode(pod *corev1.Pod, weight int32, req corev1.NodeSelectorRequirement) {
	term := corev1.PreferredSchedulingTerm{Weight: weight, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{req}}}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if equality.Semantic.DeepEqual(t, term) {
				return
			}
		}
	}
	na := nodeAffinity(pod)
	na.PreferredDuringSchedulingIgnoredDuringExecution = append(na.PreferredDuringSchedulingIgnoredDuringExecution, term)
}

func containsRequirement(reqs []corev1.NodeSelectorRequirement, req corev1.NodeSelectorRequirement) bool {
	for _, r := range reqs {
		if equality.Semantic.DeepEqual(r, req) {
			return true
		}
	}
	return false
}

// userConstrains reports whether the pod's own hard constraints (nodeSelector
// or required node affinity) say anything about key other than ours.
func userConstrains(pod *corev1.Pod, key string, ours corev1.NodeSelectorRequirement) bool {
	if _, ok := pod.Spec.NodeSelector[key]; ok {
		return true
	}
	for _, t := range requiredTerms(pod) {
		for _, r := range t.MatchExpressions {
			if r.Key == key && !equality.Semantic.DeepEqual(r, ours) {
				return true
			}
		}
	}
	return false
}

// zoneExcluded reports whether the pod's own hard constraints rule out value
// for key, so that pinning to it would make the pod unschedulable.
func zoneExcluded(pod *corev1.Pod, key, value string) (bool, string) {
	if v, ok := pod.Spec.NodeSelector[key]; ok && v != value {
		return true, "its nodeSelector " + key + "=" + v
	}
	terms := requiredTerms(pod)
	if len(terms) == 0 {
		return false, ""
	}
	for _, t := range terms {
		if termAllows(t, key, value) {
			return false, ""
		}
	}
	return true, "every required node affinity term excludes it"
}

func termAllows(t corev1.NodeSelectorTerm, key, value string) bool {
	for _, r := range t.MatchExpressions {
		if r.Key == key && !requirementMatches(r, value) {
			return false
		}
	}
	return true
}

func requirementMatches(r corev1.NodeSelectorRequirement, value string) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return slices.Contains(r.Values, value)
	case corev1.NodeSelectorOpNotIn:
		return !slices.Contains(r.Values, value)
	case corev1.NodeSelectorOpExists:
		return true
	case corev1.NodeSelectorOpDoesNotExist:
		return false
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			return false
		}
		v, err1 := strconv.ParseInt(value, 10, 64)
		bound, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return v > bound
		}
		return v < bound
	}
	return false
}

// appAffinityTerm selects the executors of one app within a zone.
func appAffinityTerm(appID, zoneLabel string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			spark.LabelAppSelector: appID,
			spark.LabelRole:        string(spark.RoleExecutor),
		}},
		TopologyKey: zoneLabel,
	}
}

func podAffinity(pod *corev1.Pod) *corev1.PodAffinity {
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	if pod.Spec.Affinity.PodAffinity == nil {
		pod.Spec.Affinity.PodAffinity = &corev1.PodAffinity{}
	}
	return pod.Spec.Affinity.PodAffinity
}

func requirePodAffinity(pod *corev1.Pod, term corev1.PodAffinityTerm) {
	pa := podAffinity(pod)
	for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
		if equality.Semantic.DeepEqual(t, term) {
			return
		}
	}
	pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, term)
}

func preferPodAffinity(pod *corev1.Pod, weight int32, term corev1.PodAffinityTerm) {
	w := corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term}
	pa := podAffinity(pod)
	for _, t := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
		if equality.Semantic.DeepEqual(t, w) {
			return
		}
	}
	pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution, w)
}

// tolerate adds each toleration the pod does not have yet.
func tolerate(pod *corev1.Pod, tols []corev1.Toleration) {
	for _, t := range tols {
		found := false
		for _, have := range pod.Spec.Tolerations {
			if equality.Semantic.DeepEqual(have, t) {
				found = true
				break
			}
		}
		if !found {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, t)
		}
	}
}
