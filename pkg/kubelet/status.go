package kubelet

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// HostIP is every pod's status.hostIP: all virtual nodes are this machine.
const HostIP = "127.0.0.1"

// updateStatus applies mutate to the pod's status through the status
// subresource, re-reading the pod on conflict. It gives up if the pod was
// replaced by another of the same name.
func (k *Kubelet) updateStatus(ctx context.Context, pod *corev1.Pod, mutate func(*corev1.PodStatus)) error {
	pods := k.opts.Client.CoreV1().Pods(pod.Namespace)
	cur := pod
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		p := cur.DeepCopy()
		mutate(&p.Status)
		_, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, getErr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			if fresh.UID != pod.UID {
				return apierrors.NewNotFound(corev1.Resource("pods"), pod.Name)
			}
			cur = fresh
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("updating status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

func setCondition(s *corev1.PodStatus, t corev1.PodConditionType, status corev1.ConditionStatus, reason string) {
	now := metav1.Now()
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status = status
		c.Reason = reason
		c.Message = ""
		return
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: now})
}

// containerID names a container "process" for its status.
func containerID(pod *corev1.Pod, c *corev1.Container) string {
	return fmt.Sprintf("sparkplane://%s/%s", pod.UID, c.Name)
}

// setRunning marks the pod Running on ip with every container running and
// ready (containers other than the Spark one are not executed; they are
// reported like it) and init containers completed (they are not run).
func setRunning(pod *corev1.Pod, ip string, started metav1.Time) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.Reason, s.Message = "", ""
		s.HostIP = HostIP
		s.HostIPs = []corev1.HostIP{{IP: HostIP}}
		s.PodIP = ip
		s.PodIPs = []corev1.PodIP{{IP: ip}}
		if s.StartTime == nil {
			s.StartTime = &started
		}
		setCondition(s, corev1.PodScheduled, corev1.ConditionTrue, "")
		setCondition(s, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "")
		setCondition(s, corev1.PodInitialized, corev1.ConditionTrue, "")
		setCondition(s, corev1.ContainersReady, corev1.ConditionTrue, "")
		setCondition(s, corev1.PodReady, corev1.ConditionTrue, "")
		s.InitContainerStatuses = nil
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			s.InitContainerStatuses = append(s.InitContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", Message: "not run by the sparkplane local kubelet",
					StartedAt: started, FinishedAt: started, ContainerID: containerID(pod, c),
				}},
			})
		}
		s.ContainerStatuses = nil
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			s.ContainerStatuses = append(s.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c),
				Ready: true, Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
			})
		}
	}
}

// setTerminated marks the pod Succeeded (exit code 0) or Failed, with every
// container terminated with that exit code, reason and containerMessage
// (the end of the log). A failed pod also gets reason and podMessage.
func setTerminated(pod *corev1.Pod, exitCode int32, reason, podMessage, containerMessage string, started, finished metav1.Time) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		phase, readyReason := corev1.PodSucceeded, "PodCompleted"
		if exitCode != 0 {
			phase, readyReason = corev1.PodFailed, "PodFailed"
		}
		s.Phase = phase
		s.Reason, s.Message = "", ""
		if phase == corev1.PodFailed {
			s.Reason, s.Message = reason, podMessage
		}
		if s.HostIP == "" {
			s.HostIP = HostIP
			s.HostIPs = []corev1.HostIP{{IP: HostIP}}
		}
		if s.StartTime == nil {
			s.StartTime = &started
		}
		setCondition(s, corev1.PodScheduled, corev1.ConditionTrue, "")
		setCondition(s, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "")
		setCondition(s, corev1.ContainersReady, corev1.ConditionFalse, readyReason)
		setCondition(s, corev1.PodReady, corev1.ConditionFalse, readyReason)
		s.ContainerStatuses = nil
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			s.ContainerStatuses = append(s.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c),
				Started: ptr.To(false),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: exitCode, Reason: reason, Message: containerMessage,
					StartedAt: started, FinishedAt: finished, ContainerID: containerID(pod, c),
				}},
			})
		}
	}
}

// setWaiting reports why the containers cannot start yet (e.g. a ConfigMap
// that does not exist yet).
func setWaiting(pod *corev1.Pod, reason, message string) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		s.ContainerStatuses = nil
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			s.ContainerStatuses = append(s.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, Started: ptr.To(false),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
			})
		}
	}
}

// waitingMessage returns the pod's first container's waiting message.
func waitingMessage(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Waiting != nil {
			return cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message
		}
	}
	return ""
}
