package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

var (
	nodePoolGVR  = localcluster.NodePoolGVR
	nodeClaimGVR = localcluster.NodeClaimGVR
	nodeClassGVR = localcluster.NodeClassGVR
)

// markKWOKNodesReady stands in for the kubelets: it sets Ready=True on every
// node the KWOK provider created, until ctx ends.
func markKWOKNodesReady(ctx context.Context, client kubernetes.Interface) {
	_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: karpenter.LabelKWOKNode})
		if err != nil {
			return false, nil
		}
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if isReady(n) || !strings.HasPrefix(n.Spec.ProviderID, karpenter.ProviderIDPrefix) {
				continue
			}
			now := metav1.Now()
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "test stand-in for a kubelet", LastHeartbeatTime: now, LastTransitionTime: now,
			})
			if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "marking node %s Ready: %v\n", n.Name, err)
			}
		}
		return false, nil
	})
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
