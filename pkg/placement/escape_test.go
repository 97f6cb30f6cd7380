package placement

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStuckExecutors(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	window := 5 * time.Minute
	unschedulable := []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	exec := func(name, app, mode string, age time.Duration, mods ...func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(now.Add(-age)),
				Labels:      map[string]string{"spark-role": "executor", "spark-app-selector": app},
				Annotations: map[string]string{AnnotationZoneMode: mode, AnnotationZone: "zone-a"}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: unschedulable},
		}
		for _, m := range mods {
			m(p)
		}
		return p
	}
	pods := []*corev1.Pod{
		exec("a-2", "app-a", "required", 10*time.Minute),
		exec("a-1", "app-a", "required", 6*time.Minute),
		exec("a-young", "app-a", "required", time.Minute),
		exec("a-bound", "app-a", "required", 10*time.Minute, func(p *corev1.Pod) { p.Spec.NodeName = "n" }),
		exec("a-deleting", "app-a", "required", 10*time.Minute, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} }),
		exec("a-not-reported", "app-a", "required", 10*time.Minute, func(p *corev1.Pod) { p.Status.Conditions = nil }),
		exec("b-pref", "app-b", "preferred", 10*time.Minute),
		exec("c-1", "app-c", "app-affinity", 10*time.Minute),
		exec("d-running", "app-d", "required", 10*time.Minute, func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }),
	}
	got := StuckExecutors(now, window, pods)
	if len(got) != 2 || got[0].AppID != "app-a" || got[1].AppID != "app-c" {
		t.Fatalf("apps = %+v", got)
	}
	if n := got[0].Executors; len(n) != 2 || n[0].Name != "a-1" || n[1].Name != "a-2" {
		t.Errorf("app-a executors = %v", n)
	}
	if m := got[0].Mark(now, window); !strings.Contains(m, "2 executor(s) unschedulable in zone zone-a for over 5m0s") {
		t.Errorf("mark = %q", m)
	}
}

func TestMarkTargets(t *testing.T) {
	now := metav1.Now()
	pod := func(name, role, node string, created time.Duration, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"spark-role": role},
			CreationTimestamp: metav1.NewTime(now.Add(created))}, Spec: corev1.PodSpec{NodeName: node}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	names := func(ps []*corev1.Pod) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name string
		pods []*corev1.Pod
		want string
	}{
		{"the newest live driver", []*corev1.Pod{pod("old", "driver", "n", -time.Hour, false), pod("new", "driver", "n", 0, false),
			pod("gone", "driver", "n", time.Hour, true), pod("e1", "executor", "n", 0, false)}, "new"},
		{"no driver: bound live executors", []*corev1.Pod{pod("e1", "executor", "n", 0, false), pod("e2", "executor", "", 0, false),
			pod("e3", "executor", "n", 0, true)}, "e1"},
		{"nothing to mark", []*corev1.Pod{pod("e2", "executor", "", 0, false)}, ""},
	}
	for _, tt := range tests {
		if got := names(MarkTargets(tt.pods)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
