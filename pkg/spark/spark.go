// Package spark knows how Apache Spark shapes the pods it creates on
// Kubernetes: the labels it sets, the driver an executor belongs to, and the
// application an executor is part of.
package spark

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels Spark sets on driver and executor pods. Users cannot override them.
const (
	LabelRole        = "spark-role"
	LabelAppSelector = "spark-app-selector"
	LabelExecID      = "spark-exec-id"
	LabelAppName     = "spark-app-name"
	LabelVersion     = "spark-version"
	LabelProfileID   = "spark-exec-resourceprofile-id"
)

// Role is a Spark pod's role.
type Role string

const (
	RoleNone     Role = ""
	RoleDriver   Role = "driver"
	RoleExecutor Role = "executor"
	// RoleOther is a pod with a spark-role label of another value.
	RoleOther Role = "other"
)

// RoleOf returns the pod's Spark role from its labels.
func RoleOf(pod *corev1.Pod) Role {
	v, ok := pod.Labels[LabelRole]
	switch {
	case !ok:
		return RoleNone
	case v == string(RoleDriver):
		return RoleDriver
	case v == string(RoleExecutor):
		return RoleExecutor
	}
	return RoleOther
}

// AppID returns the pod's spark-app-selector label, or "".
func AppID(pod *corev1.Pod) string { return pod.Labels[LabelAppSelector] }

// DriverOwner returns the ownerReference that points at the executor's
// driver pod (kind Pod, controller), or nil. In cluster mode Spark always sets it.
func DriverOwner(pod *corev1.Pod) *metav1.OwnerReference {
	for i := range pod.OwnerReferences {
		ref := &pod.OwnerReferences[i]
		if ref.Kind == "Pod" && ref.APIVersion == "v1" && ref.Controller != nil && *ref.Controller {
			return ref
		}
	}
	return nil
}

// AppDriver is the driver among an app's pods: the newest that is not being
// deleted (a resubmitted app may briefly have two), or nil.
func AppDriver(pods []*corev1.Pod) *corev1.Pod {
	var best *corev1.Pod
	for _, p := range pods {
		if RoleOf(p) != RoleDriver || p.DeletionTimestamp != nil {
			continue
		}
		if best == nil || p.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = p
		}
	}
	return best
}
