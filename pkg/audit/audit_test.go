package audit

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

const zoneLabel = "topology.kubernetes.io/zone"

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func node(name, zone, capType string) corev1.Node {
	l := map[string]string{"karpenter.sh/capacity-type": capType}
	if zone != "" {
		l[zoneLabel] = zone
	}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

// pod is a Spark pod of app in namespace ns; opts edit it.
func pod(name, app, role, nodeName string, opts ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), CreationTimestamp: metav1.NewTime(t0),
			Labels: map[string]string{"spark-app-selector": app, "spark-role": role, "spark-app-name": app + "-name"}},
		Spec:   corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if nodeName == "" {
		p.Status.Phase = corev1.PodPending
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func unschedulable(msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.NewTime(t0.Add(time.Minute))}}
		p.Annotations = map[string]string{"sparkplane.io/decision": "pinned to zone a", "sparkplane.io/zone-mode": "required", "sparkplane.io/zone": "a"}
	}
}

func ownedBy(driver string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: driver, UID: types.UID(driver), Controller: &yes}}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		bound            bool
		driver, executor string
		want             Relation
	}{
		{false, "a", "", Pending},
		{false, "", "", Pending},
		{true, "a", "a", SameZone},
		{true, "a", "b", CrossZone},
		{true, "", "b", Unknown},
		{true, "a", "", Unknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.bound, tt.driver, tt.executor); got != tt.want {
			t.Errorf("Classify(%v, %q, %q) = %q, want %q", tt.bound, tt.driver, tt.executor, got, tt.want)
		}
	}
}

func TestWaitingOf(t *testing.T) {
	tests := []struct {
		name string
		pod  corev1.Pod
		want Waiting
	}{
		{"unschedulable", pod("e", "x", "executor", "", unschedulable("0/3 nodes are available: 3 Insufficient cpu.")),
			Waiting{Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu.", Since: t0.Add(time.Minute),
				Decision: "pinned to zone a", ZoneMode: "required", Zone: "a"}},
		{"not seen by a scheduler", pod("e", "x", "executor", ""),
			Waiting{Reason: ReasonNotScheduledYet, Message: "no scheduler has reported on the pod yet", Since: t0}},
		{"other scheduler", pod("e", "x", "executor", "", func(p *corev1.Pod) { p.Spec.SchedulerName = "sparkplane" }),
			Waiting{Reason: ReasonNotScheduledYet, Message: "no scheduler has reported on the pod yet; it names scheduler sparkplane: is that scheduler running?", Since: t0}},
		{"gated", pod("e", "x", "executor", "", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}} }),
			Waiting{Reason: "SchedulingGated", Message: "the pod has scheduling gates; whoever added them has not removed them yet", Since: t0}},
	}
	for _, tt := range tests {
		if got := WaitingOf(&tt.pod); got != tt.want {
			t.Errorf("%s: got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	prov := v1alpha1.Default().Provider
	nodes := []corev1.Node{node("a-od", "a", "on-demand"), node("a-spot", "a", "spot"), node("b-spot", "b", "spot"), node("nozone", "", "spot")}
	od, spot := v1alpha1.CapacityOnDemand, v1alpha1.CapacitySpot
	tests := []struct {
		name     string
		pods     []corev1.Pod
		want     []App
		finished []FinishedApp
		totals   Totals
	}{{
		name: "same, cross, pending, finished and deleted executors",
		pods: []corev1.Pod{
			pod("d1", "app-1", "driver", "a-od"),
			pod("e1", "app-1", "executor", "a-spot", ownedBy("d1")),
			pod("e2", "app-1", "executor", "b-spot", ownedBy("d1")),
			pod("e3", "app-1", "executor", "", ownedBy("d1"), unschedulable("no room")),
			pod("e4", "app-1", "executor", "b-spot", phase(corev1.PodSucceeded)),
			pod("e5", "app-1", "executor", "b-spot", phase(corev1.PodFailed)),
			pod("e6", "app-1", "executor", "b-spot", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} }),
			pod("other", "app-1", "shuffle-service", "b-spot"),
		},
		want: []App{{
			Namespace: "ns", AppID: "app-1", Name: "app-1-name", DriverPod: "d1", DriverNode: "a-od", Driver: &Placement{"a", od},
			Executors: map[Placement]int{{"a", spot}: 1, {"b", spot}: 1}, SameZone: 1, CrossZone: 1,
			CrossZonePairs: []Pair{{Driver: "d1", DriverZone: "a", Executor: "e2", ExecutorNode: "b-spot", ExecutorZone: "b", ExecutorCapacity: spot}},
			Pending: []PendingExecutor{{Pod: "e3", Waiting: Waiting{Reason: "Unschedulable", Message: "no room", Since: t0.Add(time.Minute),
				Decision: "pinned to zone a", ZoneMode: "required", Zone: "a"}}},
		}},
		totals: Totals{Apps: 1, Drivers: 1, DriversOnDemand: 1, Executors: 2, ExecutorsSpot: 2, SameZone: 1, CrossZone: 1, Pending: 1, AppsCrossZone: 1},
	}, {
		name: "client mode and unknown nodes: zone unknown, never cross-zone",
		pods: []corev1.Pod{
			pod("x1", "app-2", "executor", "b-spot"),
			pod("d3", "app-3", "driver", "a-od"),
			pod("y1", "app-3", "executor", "nozone"),
			pod("y2", "app-3", "executor", "gone"),
		},
		want: []App{
			{Namespace: "ns", AppID: "app-2", Name: "app-2-name", Executors: map[Placement]int{{"b", spot}: 1}, UnknownZone: 1,
				DriverGone: &DriverGone{Reason: DriverClientMode}},
			{Namespace: "ns", AppID: "app-3", Name: "app-3-name", DriverPod: "d3", DriverNode: "a-od", Driver: &Placement{"a", od},
				Executors: map[Placement]int{{"", spot}: 1, {}: 1}, UnknownZone: 2},
		},
		totals: Totals{Apps: 2, Drivers: 1, DriversOnDemand: 1, Executors: 3, ExecutorsSpot: 2, UnknownZone: 3},
	}, {
		name: "pending driver",
		pods: []corev1.Pod{pod("d4", "app-4", "driver", "", unschedulable("no on-demand room"))},
		want: []App{{Namespace: "ns", AppID: "app-4", Name: "app-4-name", DriverPod: "d4", Executors: map[Placement]int{},
			DriverWaiting: &Waiting{Reason: "Unschedulable", Message: "no on-demand room", Since: t0.Add(time.Minute),
				Decision: "pinned to zone a", ZoneMode: "required", Zone: "a"}}},
		totals: Totals{Apps: 1, DriversPending: 1},
	}, {
		name: "resubmitted app: an executor follows its owner, not the newest driver",
		pods: []corev1.Pod{
			pod("old", "app-5", "driver", "b-spot"),
			pod("new", "app-5", "driver", "a-od", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(time.Hour)) }),
			pod("z1", "app-5", "executor", "b-spot", ownedBy("old")),
			pod("z2", "app-5", "executor", "b-spot", ownedBy("new")),
		},
		want: []App{{Namespace: "ns", AppID: "app-5", Name: "app-5-name", DriverPod: "new", DriverNode: "a-od", Driver: &Placement{"a", od},
			Executors: map[Placement]int{{"b", spot}: 2}, SameZone: 1, CrossZone: 1,
			CrossZonePairs: []Pair{{Driver: "new", DriverZone: "a", Executor: "z2", ExecutorNode: "b-spot", ExecutorZone: "b", ExecutorCapacity: spot}}}},
		totals: Totals{Apps: 1, Drivers: 1, DriversOnDemand: 1, Executors: 2, ExecutorsSpot: 2, SameZone: 1, CrossZone: 1, AppsCrossZone: 1},
	}, {
		name: "only finished pods: a finished app, not a placed one",
		pods: []corev1.Pod{
			pod("d6", "app-6", "driver", "a-od", phase(corev1.PodSucceeded)),
			pod("e6", "app-6", "executor", "a-spot", ownedBy("d6"), phase(corev1.PodSucceeded)),
			pod("d7", "app-7", "driver", "a-od", phase(corev1.PodFailed)),
			pod("e8", "app-8", "executor", "a-spot", phase(corev1.PodFailed)), // no driver: nothing to say
		},
		want:     []App{},
		finished: []FinishedApp{{"ns", "app-6", "app-6-name", "d6", corev1.PodSucceeded, 1}, {"ns", "app-7", "app-7-name", "d7", corev1.PodFailed, 0}},
		totals:   Totals{FinishedApps: 2},
	}, {
		name: "executors without a live driver: deleted, being deleted, finished, client mode",
		pods: []corev1.Pod{
			pod("g1", "app-9", "executor", "a-spot", ownedBy("d9")),
			pod("d10", "app-10", "driver", "a-od", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} }),
			pod("g2", "app-10", "executor", "a-spot", ownedBy("d10")),
			pod("d11", "app-11", "driver", "a-od", phase(corev1.PodFailed)),
			pod("g3", "app-11", "executor", "a-spot", ownedBy("d11")),
			pod("d12", "app-12", "driver", "a-od", phase(corev1.PodSucceeded)),
			pod("g4", "app-12", "executor", "a-spot"),
			pod("d13", "app-13", "driver", "a-od", func(p *corev1.Pod) { p.UID = "other" }, phase(corev1.PodSucceeded)),
			pod("g5", "app-13", "executor", "a-spot", ownedBy("d13")),
			pod("g6", "app-14", "executor", "a-spot"),
		},
		want: func() []App {
			var out []App
			for _, g := range []struct {
				app  string
				gone DriverGone
			}{
				{"app-10", DriverGone{Reason: DriverDeleting, Pod: "d10"}},
				{"app-11", DriverGone{Reason: DriverFinished, Pod: "d11", Phase: corev1.PodFailed}},
				{"app-12", DriverGone{Reason: DriverFinished, Pod: "d12", Phase: corev1.PodSucceeded}},
				{"app-13", DriverGone{Reason: DriverNotFound, Pod: "d13"}}, // same name, another pod: the owner is gone
				{"app-14", DriverGone{Reason: DriverClientMode}},
				{"app-9", DriverGone{Reason: DriverNotFound, Pod: "d9"}},
			} {
				out = append(out, App{Namespace: "ns", AppID: g.app, Name: g.app + "-name", DriverGone: &g.gone,
					Executors: map[Placement]int{{"a", spot}: 1}, UnknownZone: 1})
			}
			return out
		}(),
		totals: Totals{Apps: 6, Executors: 6, ExecutorsSpot: 6, UnknownZone: 6},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Summarize(tt.pods, nodes, prov, zoneLabel)
			if !reflect.DeepEqual(r.Apps, tt.want) {
				t.Errorf("apps:\n got %+v\nwant %+v", r.Apps, tt.want)
			}
			if !reflect.DeepEqual(r.Finished, tt.finished) {
				t.Errorf("finished:\n got %+v\nwant %+v", r.Finished, tt.finished)
			}
			if got := r.Totals(); got != tt.totals {
				t.Errorf("totals %+v, want %+v", got, tt.totals)
			}
		})
	}
}

func TestDriverGoneString(t *testing.T) {
	tests := []struct {
		gone DriverGone
		want string
	}{
		{DriverGone{Reason: DriverNotFound, Pod: "d"}, "driver pod deleted (d not found)"},
		{DriverGone{Reason: DriverDeleting, Pod: "d"}, "driver being deleted (d)"},
		{DriverGone{Reason: DriverFinished, Pod: "d", Phase: corev1.PodFailed}, "driver Failed (d)"},
		{DriverGone{Reason: DriverClientMode}, "no driver pod (client mode)"},
	}
	for _, tt := range tests {
		if got := tt.gone.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.gone, got, tt.want)
		}
	}
}

func TestTotalsShareAndCount(t *testing.T) {
	tot := Totals{SameZone: 3, CrossZone: 1, UnknownZone: 4, Pending: 2}
	if got := tot.CrossZoneShare(); got != 0.25 {
		t.Errorf("share %v, want 0.25 (unknown zones left out)", got)
	}
	if (Totals{}).CrossZoneShare() != 0 {
		t.Error("share of nothing should be 0")
	}
	want := map[Relation]int{SameZone: 3, CrossZone: 1, Pending: 2, Unknown: 4}
	for _, r := range Relations() {
		if tot.Count(r) != want[r] {
			t.Errorf("Count(%s) = %d, want %d", r, tot.Count(r), want[r])
		}
	}
}

func TestExecutorZones(t *testing.T) {
	nodes := map[string]Placement{"a-1": {Zone: "a"}, "b-1": {Zone: "b"}, "nozone": {}}
	lookup := func(n string) (Placement, bool) { p, ok := nodes[n]; return p, ok }
	exec := func(name, app, id, node string, opts ...func(*corev1.Pod)) *corev1.Pod {
		p := pod(name, app, "executor", node, append(opts, func(p *corev1.Pod) { p.Labels["spark-exec-id"] = id })...)
		return &p
	}
	pods := []*corev1.Pod{
		exec("e1", "app", "1", "a-1"),
		exec("e2", "app", "2", "b-1", phase(corev1.PodSucceeded)), // finished executors count
		exec("e3", "app", "3", ""),
		exec("e4", "app", "4", "nozone"),
		exec("e5", "other", "5", "a-1"),
	}
	got := ExecutorZones(pods, "app", lookup)
	if want := map[string]string{"1": "a", "2": "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
