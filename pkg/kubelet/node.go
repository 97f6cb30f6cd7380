package kubelet

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	// heartbeatPeriod is how often the Lease is renewed and the Ready
	// condition's heartbeat refreshed (the kubelet's default lease renewal).
	heartbeatPeriod = 10 * time.Second
	// leaseDuration is the Lease's leaseDurationSeconds (kubelet default).
	leaseDuration = 40
	// hostsDebounce batches bursts of pod and Service events into one
	// rewrite of the hosts files.
	hostsDebounce = 100 * time.Millisecond
)

// heartbeat keeps the node's Lease and Ready condition fresh until ctx ends.
func (k *Kubelet) heartbeat(ctx context.Context, node *corev1.Node) {
	if err := ensureNamespace(ctx, k.opts.Client, corev1.NamespaceNodeLease); err != nil {
		k.log.Error(err, "Ensuring namespace", "namespace", corev1.NamespaceNodeLease)
	}
	t := time.NewTicker(heartbeatPeriod)
	defer t.Stop()
	for {
		if err := k.renewLease(ctx, node); err != nil && ctx.Err() == nil {
			k.log.Error(err, "Renewing node lease")
		}
		if err := k.markNodeReady(ctx); err != nil && ctx.Err() == nil {
			k.log.Error(err, "Updating node Ready condition")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ensureNamespace creates the namespace if it is missing: there is no
// controller-manager or real kubelet to create kube-node-lease.
func ensureNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	namespaces := client.CoreV1().Namespaces()
	if _, err := namespaces.Get(ctx, name, metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := namespaces.Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// renewLease creates or renews the node's Lease in kube-node-lease, owned
// by the Node as the kubelet's is.
func (k *Kubelet) renewLease(ctx context.Context, node *corev1.Node) error {
	leases := k.opts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, k.opts.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      k.opts.NodeName,
				Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(k.opts.NodeName),
				LeaseDurationSeconds: ptr.To[int32](leaseDuration),
				RenewTime:            &now,
			},
		}
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting lease: %w", err)
	}
	lease.Spec.HolderIdentity = ptr.To(k.opts.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDuration)
	lease.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renewing lease: %w", err)
	}
	return nil
}

// markNodeReady sets the Ready condition True with a fresh heartbeat.
func (k *Kubelet) markNodeReady(ctx context.Context) error {
	nodes := k.opts.Client.CoreV1().Nodes()
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		node, err := nodes.Get(ctx, k.opts.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // the node informer reports the deletion
		}
		if err != nil {
			return err
		}
		now := metav1.Now()
		ready := corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "sparkplane local kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
		}
		found := false
		for i := range node.Status.Conditions {
			c := &node.Status.Conditions[i]
			if c.Type != corev1.NodeReady {
				continue
			}
			found = true
			if c.Status == corev1.ConditionTrue {
				ready.LastTransitionTime = c.LastTransitionTime
			}
			*c = ready
		}
		if !found {
			node.Status.Conditions = append(node.Status.Conditions, ready)
		}
		_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// hostsLoop rewrites the hosts files of running pods when pods or Services
// change, until ctx ends.
func (k *Kubelet) hostsLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.hostsDirty:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(hostsDebounce):
		}
		for _, rt := range k.runtimes() {
			if rt.hostsFile == "" || rt.proc.exited() {
				continue
			}
			if err := k.writeHosts(rt); err != nil {
				k.log.Error(err, "Updating hosts file", "pod", keyOf(rt.pod))
			}
		}
	}
}

// writeHosts writes the pod's hosts file if its content changed.
func (k *Kubelet) writeHosts(rt *podRuntime) error {
	content := renderHosts(hostsInput{
		Namespace:       rt.pod.Namespace,
		PodName:         rt.pod.Name,
		Hostname:        rt.pod.Spec.Hostname,
		Subdomain:       rt.pod.Spec.Subdomain,
		PodIP:           rt.ip.String(),
		MachineHostname: k.hostname,
		Services:        k.serviceAddrs(rt.pod.Namespace),
	})
	k.hostsMu.Lock()
	defer k.hostsMu.Unlock()
	if string(content) == string(rt.hosts) {
		return nil
	}
	if err := writeFileAtomic(rt.hostsFile, content); err != nil {
		return fmt.Errorf("writing hosts file: %w", err)
	}
	rt.hosts = content
	return nil
}

// serviceAddrs returns the namespace's Services with a selector and the IPs
// of the running, not terminating pods they select (any node).
func (k *Kubelet) serviceAddrs(ns string) []serviceAddrs {
	svcs, err := k.services.Services(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []serviceAddrs
	for _, svc := range svcs {
		if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		pods, err := k.allPods.Pods(ns).List(labels.SelectorFromSet(svc.Spec.Selector))
		if err != nil {
			continue
		}
		var ips []string
		for _, p := range pods {
			if p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				ips = append(ips, p.Status.PodIP)
			}
		}
		if len(ips) > 0 {
			out = append(out, serviceAddrs{Name: svc.Name, IPs: ips})
		}
	}
	return out
}
