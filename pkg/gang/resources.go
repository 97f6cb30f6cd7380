package gang

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Resources is an amount of cpu and memory in the units the scheduler
// counts: millicores and bytes. Plain integers keep the hot paths (Fit runs
// inside a scheduling cycle) free of Quantity arithmetic.
type Resources struct {
	MilliCPU int64
	Memory   int64
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.MilliCPU + o.MilliCPU, r.Memory + o.Memory}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.MilliCPU - o.MilliCPU, r.Memory - o.Memory}
}

// Times returns n x r.
func (r Resources) Times(n int) Resources {
	return Resources{r.MilliCPU * int64(n), r.Memory * int64(n)}
}

// FitsIn reports whether r <= o in every dimension.
func (r Resources) FitsIn(o Resources) bool {
	return r.MilliCPU <= o.MilliCPU && r.Memory <= o.Memory
}

// IsZero reports whether r asks for nothing.
func (r Resources) IsZero() bool { return r.MilliCPU == 0 && r.Memory == 0 }

// String reads like "1.5 cpu, 1408Mi".
func (r Resources) String() string { return cpuString(r.MilliCPU) + ", " + memString(r.Memory) }

func cpuString(m int64) string {
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10) + " cpu"
	}
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64) + " cpu"
}

func memString(b int64) string { return resource.NewQuantity(b, resource.BinarySI).String() }

// fromList reads cpu and memory out of a ResourceList.
func fromList(l corev1.ResourceList) Resources {
	var r Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	return r
}

func maxOf(a, b Resources) Resources {
	return Resources{max(a.MilliCPU, b.MilliCPU), max(a.Memory, b.Memory)}
}

// PodRequests is what the scheduler counts for a pod, by the rules of
// k8s.io/component-helpers/resource.PodRequests: the containers' sum, raised
// to the largest init container (restartable "sidecar" init containers run
// alongside, so they add to both), pod-level requests where set, plus the
// runtime class overhead. Reimplemented to keep this package's imports small.
func PodRequests(pod *corev1.Pod) Resources {
	var sum, sidecars, initMax Resources
	for _, c := range pod.Spec.Containers {
		sum = sum.Add(fromList(c.Resources.Requests))
	}
	for _, c := range pod.Spec.InitContainers {
		r := fromList(c.Resources.Requests)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum = sum.Add(r)
			sidecars = sidecars.Add(r)
			initMax = maxOf(initMax, sidecars)
		} else {
			initMax = maxOf(initMax, sidecars.Add(r))
		}
	}
	total := maxOf(sum, initMax)
	if pod.Spec.Resources != nil {
		if q, ok := pod.Spec.Resources.Requests[corev1.ResourceCPU]; ok {
			total.MilliCPU = q.MilliValue()
		}
		if q, ok := pod.Spec.Resources.Requests[corev1.ResourceMemory]; ok {
			total.Memory = q.Value()
		}
	}
	return total.Add(fromList(pod.Spec.Overhead))
}

// Reasons are a decision in words, one fact each, most important first.
type Reasons []string

// String joins the reasons into one line, as for an event or annotation.
func (r Reasons) String() string { return strings.Join(r, "; ") }
