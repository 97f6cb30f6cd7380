package controlplane

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// DefaultNodePods is the pod capacity of a node whose NodeSpec.Pods is 0.
const DefaultNodePods = 110

// NodeSpec describes a virtual node. Labels are set as given plus
// kubernetes.io/hostname=Name and topology.kubernetes.io/zone=Zone (when
// Zone != ""). Status: Ready condition True, capacity = allocatable =
// CPU/Memory/Pods (default pods DefaultNodePods). An empty CPU or Memory
// leaves that resource out.
type NodeSpec struct {
	Name   string
	Zone   string
	CPU    string // e.g. "8"
	Memory string // e.g. "32Gi"
	Pods   int
	Labels map[string]string
	Taints []corev1.Taint
}

// resources returns the node's capacity (= allocatable).
func (s NodeSpec) resources() (corev1.ResourceList, error) {
	list := corev1.ResourceList{}
	if s.CPU != "" {
		q, err := resource.ParseQuantity(s.CPU)
		if err != nil {
			return nil, fmt.Errorf("parsing CPU %q: %w", s.CPU, err)
		}
		list[corev1.ResourceCPU] = q
	}
	if s.Memory != "" {
		q, err := resource.ParseQuantity(s.Memory)
		if err != nil {
			return nil, fmt.Errorf("parsing memory %q: %w", s.Memory, err)
		}
		list[corev1.ResourceMemory] = q
	}
	pods := s.Pods
	if pods == 0 {
		pods = DefaultNodePods
	}
	if pods < 0 {
		return nil, fmt.Errorf("negative pod capacity %d", pods)
	}
	list[corev1.ResourcePods] = *resource.NewQuantity(int64(pods), resource.DecimalSI)
	return list, nil
}

// CreateNode creates the node and sets its status (status is a subresource:
// create, then UpdateStatus). There is no kubelet: the Ready condition is
// never refreshed, and with no controller-manager nothing marks the node
// unhealthy either.
func (cp *ControlPlane) CreateNode(ctx context.Context, spec NodeSpec) (*corev1.Node, error) {
	if spec.Name == "" {
		return nil, errors.New("creating node: empty name")
	}
	res, err := spec.resources()
	if err != nil {
		return nil, fmt.Errorf("creating node %q: %w", spec.Name, err)
	}

	labels := make(map[string]string, len(spec.Labels)+2)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[corev1.LabelHostname] = spec.Name
	if spec.Zone != "" {
		labels[corev1.LabelTopologyZone] = spec.Zone
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: spec.Taints},
	}
	nodes := cp.Client.CoreV1().Nodes()
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating node %q: %w", spec.Name, err)
	}

	var updated *corev1.Node
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		now := metav1.Now()
		created.Status.Capacity = res.DeepCopy()
		created.Status.Allocatable = res.DeepCopy()
		created.Status.Phase = corev1.NodeRunning
		created.Status.Conditions = []corev1.NodeCondition{{
			Type:               corev1.NodeReady,
			Status:             corev1.ConditionTrue,
			Reason:             "KubeletReady",
			Message:            "virtual node created by sparkplane",
			LastHeartbeatTime:  now,
			LastTransitionTime: now,
		}}
		var err error
		updated, err = nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, getErr := nodes.Get(ctx, spec.Name, metav1.GetOptions{}); getErr == nil {
				created = fresh
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("setting status of node %q: %w", spec.Name, err)
	}
	return updated, nil
}

// TB is the part of testing.TB that Namespace needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Namespace creates a namespace for one test and, at cleanup, force-deletes
// its pods: with no kubelet, a graceful deletion of a bound pod would never
// be confirmed.
func (cp *ControlPlane) Namespace(t TB) string {
	t.Helper()
	ctx := context.Background()
	ns, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = cp.Client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	})
	return ns.Name
}
