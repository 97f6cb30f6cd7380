// Package podvalidation checks pods, and the pod fields sparkplane writes
// (tolerations, node selector requirements, label keys and values,
// annotations), with the Kubernetes API server's own validation code, so
// that nothing sparkplane is configured to write can make a pod invalid.
// Everything here is pure: no I/O.
//
// The API server does not validate pod.spec.schedulerName at all (v1.36), so
// there is nothing of Kubernetes' to check a scheduler name against here.
package podvalidation

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/core"
	corev1conv "k8s.io/kubernetes/pkg/apis/core/v1"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
)

// Pod validates a pod as the API server validates a pod create.
func Pod(pod *corev1.Pod) field.ErrorList {
	internal := &core.Pod{}
	if err := corev1conv.Convert_v1_Pod_To_core_Pod(pod, internal, nil); err != nil {
		return field.ErrorList{field.InternalError(field.NewPath(""), err)}
	}
	opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&internal.Spec, nil, &internal.ObjectMeta, nil)
	return corevalidation.ValidatePodCreate(internal, opts)
}

// Introduced returns the errors the API server would find in mutated that
// it does not find in orig: what a mutation made invalid. Errors the pod
// had already are the pod owner's, and not counted.
func Introduced(orig, mutated *corev1.Pod) field.ErrorList {
	before := sets.New[string]()
	for _, e := range Pod(orig) {
		before.Insert(e.Error())
	}
	var out field.ErrorList
	for _, e := range Pod(mutated) {
		if !before.Has(e.Error()) {
			out = append(out, e)
		}
	}
	return out
}

// Tolerations validates tolerations as pod.spec.tolerations.
func Tolerations(path *field.Path, ts []corev1.Toleration) field.ErrorList {
	internal := make([]core.Toleration, len(ts))
	for i := range ts {
		if err := corev1conv.Convert_v1_Toleration_To_core_Toleration(&ts[i], &internal[i], nil); err != nil {
			return field.ErrorList{field.InternalError(path.Index(i), err)}
		}
	}
	return corevalidation.ValidateTolerations(internal, path, corevalidation.PodValidationOptions{})
}

// NodeSelectorRequirement validates a requirement of a required or
// preferred node affinity term.
func NodeSelectorRequirement(path *field.Path, r corev1.NodeSelectorRequirement) field.ErrorList {
	var internal core.NodeSelectorRequirement
	if err := corev1conv.Convert_v1_NodeSelectorRequirement_To_core_NodeSelectorRequirement(&r, &internal, nil); err != nil {
		return field.ErrorList{field.InternalError(path, err)}
	}
	return corevalidation.ValidateNodeSelectorRequirement(internal, false, path)
}

// LabelKey validates a label key, as in pod.spec.nodeSelector.
func LabelKey(path *field.Path, key string) field.ErrorList {
	return metav1validation.ValidateLabelName(key, path)
}

// LabelValue validates a label value, as in pod.spec.nodeSelector.
func LabelValue(path *field.Path, value string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidLabelValue(value) {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

// Annotations validates annotations as pod.metadata.annotations: each key a
// qualified name, the total size within the API server's limit. Errors are
// sorted: the map's order is random.
func Annotations(path *field.Path, annotations map[string]string) field.ErrorList {
	errs := apivalidation.ValidateAnnotations(annotations, path)
	slices.SortFunc(errs, func(a, b *field.Error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}
