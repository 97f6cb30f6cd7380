package localcluster

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
)

// DefaultInterruptNotice is how long a spot instance lives after its
// interruption notice on AWS.
const DefaultInterruptNotice = 2 * time.Minute

// InterruptOptions configure Interrupt.
type InterruptOptions struct {
	// Notice is how long the node may drain before its instance is gone
	// (default DefaultInterruptNotice).
	Notice time.Duration
	// Progress receives a line per step; nil prints nothing.
	Progress io.Writer
}

// InterruptResult says what an interruption did.
type InterruptResult struct {
	// NodeClaim is the claim deleted for a node Karpenter launched ("" for a
	// static node).
	NodeClaim string
	// Evicted are the pods that left the node before the notice ran out;
	// Killed those still there when it did (deleted at once, as a lost
	// instance's pods are).
	Evicted, Killed []string
	Took            time.Duration
}

// Interrupt does to node what a spot interruption does. For a node Karpenter
// launched it does what Karpenter's interruption handling does on AWS: it
// deletes the node's NodeClaim, and Karpenter taints the node, evicts its
// pods through the Eviction API (each with its grace period) and removes
// the node; pods that come back (Spark's replacement executors) make it
// provision anew. For a static node, Interrupt itself cordons the node,
// evicts its pods and deletes it. Either way, when Notice runs out the
// instance is gone: the pods still on the node are deleted at once, and a
// static node is deleted (the kubelet then kills what is left).
func Interrupt(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, node string, o InterruptOptions) (*InterruptResult, error) {
	if o.Notice <= 0 {
		o.Notice = DefaultInterruptNotice
	}
	start := time.Now()
	progressf := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("node %q: no such node (list them: kubectl get nodes -L topology.kubernetes.io/zone,karpenter.sh/capacity-type)", node)
	}
	if err != nil {
		return nil, fmt.Errorf("getting node %s: %w", node, err)
	}
	before, err := podsOn(ctx, client, node)
	if err != nil {
		return nil, err
	}
	res := &InterruptResult{}
	if strings.HasPrefix(n.Spec.ProviderID, karpenter.ProviderIDPrefix) {
		claim, err := nodeClaimOf(ctx, dyn, n)
		if err != nil {
			return nil, err
		}
		res.NodeClaim = claim
		if err := dyn.Resource(NodeClaimGVR).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting NodeClaim %s of node %s: %w", claim, node, err)
		}
		progressf("interruption notice for %s: NodeClaim %s deleted; Karpenter drains the node (%d pods) and removes it; notice %s", node, claim, len(before), o.Notice)
	} else {
		progressf("interruption notice for %s: cordoning it and evicting its %d pods; notice %s", node, len(before), o.Notice)
		if err := cordonAndEvict(ctx, client, node, before); err != nil {
			return nil, err
		}
	}

	// Wait until the node's pods are gone, or the notice runs out.
	deadline := start.Add(o.Notice)
	_ = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Until(deadline), true, func(ctx context.Context) (bool, error) {
		left, err := podsOn(ctx, client, node)
		return err == nil && len(left) == 0, nil
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	left, err := podsOn(ctx, client, node)
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	for _, p := range left {
		gone[p.Namespace+"/"+p.Name] = true
	}
	for _, p := range before {
		if !gone[p.Namespace+"/"+p.Name] {
			res.Evicted = append(res.Evicted, p.Namespace+"/"+p.Name)
		}
	}
	if len(left) > 0 {
		progressf("notice over: the instance is gone; %d pods still on %s are lost", len(left), node)
		for _, p := range left {
			res.Killed = append(res.Killed, p.Namespace+"/"+p.Name)
			err := client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("deleting pod %s/%s of the lost node: %w", p.Namespace, p.Name, err)
			}
		}
	}
	if res.NodeClaim == "" {
		if err := client.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting node %s: %w", node, err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s was not removed within a minute after its pods left (Karpenter's log says why): %w", node, err)
	}
	if res.NodeClaim != "" {
		// Karpenter deletes the Node, then lets its NodeClaim go: the
		// interruption is over when both are.
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := dyn.Resource(NodeClaimGVR).Get(ctx, res.NodeClaim, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			return nil, fmt.Errorf("NodeClaim %s of node %s was not removed within a minute after the node (Karpenter's log says why): %w", res.NodeClaim, node, err)
		}
	}
	res.Took = time.Since(start)
	progressf("node %s removed: %d pods evicted, %d lost", node, len(res.Evicted), len(res.Killed))
	return res, nil
}

// podsOn lists the pods bound to node that have not finished.
func podsOn(ctx context.Context, client kubernetes.Interface, node string) ([]corev1.Pod, error) {
	list, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of node %s: %w", node, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out, nil
}

// nodeClaimOf finds the NodeClaim that launched n (its status names the
// node, or its providerID matches).
func nodeClaimOf(ctx context.Context, dyn dynamic.Interface, n *corev1.Node) (string, error) {
	list, err := dyn.Resource(NodeClaimGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing NodeClaims: %w", err)
	}
	for _, c := range list.Items {
		status, _ := c.Object["status"].(map[string]any)
		if status == nil {
			continue
		}
		if status["nodeName"] == n.Name || (n.Spec.ProviderID != "" && status["providerID"] == n.Spec.ProviderID) {
			return c.GetName(), nil
		}
	}
	return "", fmt.Errorf("node %s looks launched by Karpenter (providerID %s) but no NodeClaim names it", n.Name, n.Spec.ProviderID)
}

// cordonAndEvict marks node unschedulable and asks the Eviction API to
// evict each pod with its own grace period; a pod a PodDisruptionBudget
// protects stays until the notice runs out, as on a real interruption.
func cordonAndEvict(ctx context.Context, client kubernetes.Interface, node string, pods []corev1.Pod) error {
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	if _, err := client.CoreV1().Nodes().Patch(ctx, node, "application/strategic-merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cordoning node %s: %w", node, err)
	}
	for _, p := range pods {
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		if err := client.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsTooManyRequests(err) {
			return fmt.Errorf("evicting pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

// Interrupt interrupts one of the cluster's nodes (see Interrupt).
func (c *Cluster) Interrupt(ctx context.Context, node string, o InterruptOptions) (*InterruptResult, error) {
	dyn, err := dynamic.NewForConfig(c.CP.Config)
	if err != nil {
		return nil, err
	}
	res, err := Interrupt(ctx, c.Client, dyn, node, o)
	if err == nil {
		c.nodeGone(node)
	}
	return res, err
}
