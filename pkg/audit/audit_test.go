package audit

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

func TestSummarize(t *testing.T) {
	prov := v1alpha1.Default().Provider
	node := func(name, zone, capType string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"topology.kubernetes.io/zone": zone, "karpenter.sh/capacity-type": capType}}}
	}
	pod := func(name, app, role, node string, phase corev1.PodPhase) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{
			"spark-app-selector": app, "spark-role": role}}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	nodes := []corev1.Node{node("a-od", "a", "on-demand"), node("a-spot", "a", "spot"), node("b-spot", "b", "spot")}
	pods := []corev1.Pod{
		pod("d1", "app-1", "driver", "a-od", corev1.PodRunning),
		pod("e1", "app-1", "executor", "a-spot", corev1.PodRunning),
		pod("e2", "app-1", "executor", "b-spot", corev1.PodRunning),
		pod("e3", "app-1", "executor", "", corev1.PodPending),
		pod("e4", "app-1", "executor", "b-spot", corev1.PodSucceeded),
		pod("x1", "app-2", "executor", "b-spot", corev1.PodRunning), // client mode: no driver
	}
	r := Summarize(pods, nodes, prov, "topology.kubernetes.io/zone")
	if len(r.Apps) != 2 {
		t.Fatalf("apps: %+v", r.Apps)
	}
	a := r.Apps[0]
	if a.Driver == nil || *a.Driver != (Placement{"a", v1alpha1.CapacityOnDemand}) || a.CrossZone != 1 || a.Pending != 1 || a.BoundExecutors() != 2 {
		t.Errorf("app-1: %+v driver %+v", a, a.Driver)
	}
	if r.Apps[1].Driver != nil || r.Apps[1].CrossZone != 0 {
		t.Errorf("app-2: %+v", r.Apps[1])
	}
	want := Totals{Apps: 2, Drivers: 1, DriversOnDemand: 1, Executors: 3, ExecutorsSpot: 3, CrossZone: 1, Pending: 1}
	if got := r.Totals(); got != want {
		t.Errorf("totals %+v, want %+v", got, want)
	}
}
