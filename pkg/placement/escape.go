package placement

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

// StuckApp is an app whose zone-constrained executors have been
// unschedulable for longer than the escape window and never ran.
type StuckApp struct {
	Namespace string
	AppID     string
	// Zone the executors were pinned to ("" for pod-affinity executors).
	Zone string
	// Executors to delete so that Spark re-requests them.
	Executors []*corev1.Pod
}

// Mark is the AnnotationZoneFallback value recorded for the app.
func (s StuckApp) Mark(now time.Time, window time.Duration) string {
	where := "the driver's zone"
	if s.Zone != "" {
		where = "zone " + s.Zone
	}
	return fmt.Sprintf("%s: %d executor(s) unschedulable in %s for over %s", now.UTC().Format(time.RFC3339), len(s.Executors), where, window)
}

// StuckExecutors returns, per app, the executors that sparkplane constrained
// to one zone (required node affinity or required app pod affinity), that
// have never been bound and that the scheduler has reported unschedulable,
// once they are older than window. Apps come sorted by namespace and app id.
func StuckExecutors(now time.Time, window time.Duration, pods []*corev1.Pod) []StuckApp {
	byApp := map[[2]string]*StuckApp{}
	for _, p := range pods {
		if !isStuck(now, window, p) {
			continue
		}
		key := [2]string{p.Namespace, spark.AppID(p)}
		s := byApp[key]
		if s == nil {
			s = &StuckApp{Namespace: p.Namespace, AppID: key[1], Zone: p.Annotations[AnnotationZone]}
			byApp[key] = s
		}
		s.Executors = append(s.Executors, p)
	}
	out := make([]StuckApp, 0, len(byApp))
	for _, s := range byApp {
		sort.Slice(s.Executors, func(i, j int) bool { return s.Executors[i].Name < s.Executors[j].Name })
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].AppID < out[j].AppID
	})
	return out
}

func isStuck(now time.Time, window time.Duration, p *corev1.Pod) bool {
	if spark.RoleOf(p) != spark.RoleExecutor || spark.AppID(p) == "" || p.DeletionTimestamp != nil ||
		p.Spec.NodeName != "" || p.Status.Phase != corev1.PodPending {
		return false
	}
	switch ZoneOutcome(p.Annotations[AnnotationZoneMode]) {
	case ZoneRequired, ZoneAppAffinity:
	default:
		return false
	}
	if now.Sub(p.CreationTimestamp.Time) < window {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// MarkTargets are the pods that carry an app's AnnotationZoneFallback, so
// the decision survives a webhook restart: its driver or, without a driver
// pod (client mode), its bound executors, which its later executors' pod
// affinity follows.
func MarkTargets(appPods []*corev1.Pod) []*corev1.Pod {
	if drv := spark.AppDriver(appPods); drv != nil {
		return []*corev1.Pod{drv}
	}
	var out []*corev1.Pod
	for _, p := range appPods {
		if spark.RoleOf(p) == spark.RoleExecutor && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}
