package scheduler

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// ruleCase is one executor-rule case: the driver (bound to node a-od in
// zone-a unless unbound or absent), the executor, and the nodes of a
// two-zone cluster (a-od, a-spot, b-od, b-spot) the executor may go to.
type ruleCase struct {
	name string
	// driverAnn are the driver's annotations (its per-app overrides and
	// the escape's mark); execAnn the executor's own.
	driverAnn, execAnn map[string]string
	// template edits the executor as a pod template would.
	template func(*corev1.Pod)
	// clientMode: no driver pod; unbound: the driver is not bound yet.
	clientMode, unbound bool
	outcome             placement.ZoneOutcome
	want                []string
}

func ruleCases() []ruleCase {
	zoneKey := v1alpha1.Default().ZoneLabel
	all := []string{"a-od", "a-spot", "b-od", "b-spot"}
	zoneA := []string{"a-od", "a-spot"}
	zoneB := []string{"b-od", "b-spot"}
	return []ruleCase{
		{name: "defaults: the driver's zone is required", outcome: placement.ZoneRequired, want: zoneA},
		{name: "driver override zone-pinning=preferred", driverAnn: map[string]string{placement.AnnotationZonePinning: "preferred"},
			outcome: placement.ZonePreferred, want: all},
		{name: "executor override zone-pinning=off", execAnn: map[string]string{placement.AnnotationZonePinning: "off"},
			outcome: placement.ZoneOff, want: all},
		{name: "executor override zone-pinning=required beats the driver's off",
			driverAnn: map[string]string{placement.AnnotationZonePinning: "off"}, execAnn: map[string]string{placement.AnnotationZonePinning: "required"},
			outcome: placement.ZoneRequired, want: zoneA},
		{name: "invalid executor override is ignored", execAnn: map[string]string{placement.AnnotationZonePinning: "maybe"},
			outcome: placement.ZoneRequired, want: zoneA},
		{name: "driver override executor-capacity-type=spot", driverAnn: map[string]string{placement.AnnotationExecutorCapacity: "spot"},
			outcome: placement.ZoneRequired, want: []string{"a-spot"}},
		{name: "executor override on-demand beats the driver's spot",
			driverAnn: map[string]string{placement.AnnotationExecutorCapacity: "spot"}, execAnn: map[string]string{placement.AnnotationExecutorCapacity: "on-demand"},
			outcome: placement.ZoneRequired, want: []string{"a-od"}},
		{name: "executor override any beats the driver's spot",
			driverAnn: map[string]string{placement.AnnotationExecutorCapacity: "spot"}, execAnn: map[string]string{placement.AnnotationExecutorCapacity: "any"},
			outcome: placement.ZoneRequired, want: zoneA},
		{name: "template nodeSelector on another zone", template: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{zoneKey: "zone-b"} },
			outcome: placement.ZoneUserConstraint, want: zoneB},
		{name: "template affinity excluding the driver's zone", template: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: zoneKey, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"zone-a"}}}}}}}}
		}, outcome: placement.ZoneUserConstraint, want: zoneB},
		{name: "template capacity selector beats the driver's spot", driverAnn: map[string]string{placement.AnnotationExecutorCapacity: "spot"},
			template: func(p *corev1.Pod) {
				p.Spec.NodeSelector = v1alpha1.Default().Provider.NodeLabels(v1alpha1.CapacityOnDemand)
			}, outcome: placement.ZoneRequired, want: []string{"a-od"}},
		{name: "escape mark on the app", driverAnn: map[string]string{placement.AnnotationZoneFallback: "3 executors unschedulable in zone-a"},
			outcome: placement.ZoneEscaped, want: all},
		{name: "client mode: no driver pod", clientMode: true, outcome: placement.ZoneAppAffinity, want: all},
		{name: "driver not bound yet", unbound: true, outcome: placement.ZoneAppAffinity, want: all},
	}
}

// pods are the case's driver (nil in client mode) and executor, and the
// webhook's input for the executor, as its cache would give it.
func (tc ruleCase) pods(cfg *v1alpha1.SparkplaneConfiguration) (driver, exec *corev1.Pod, in placement.Input) {
	app := sparksim.App{Namespace: "ns", Name: "rule", SchedulerName: SchedulerName, DriverAnnotations: tc.driverAnn}
	var info *placement.DriverInfo
	if !tc.clientMode {
		driver = sparksim.DriverPod(app)
		driver.UID = "driver"
		info = &placement.DriverInfo{Name: driver.Name, Via: "ownerReference", Annotations: driver.Annotations}
		if !tc.unbound {
			driver.Spec.NodeName = "a-od"
			info.NodeName, info.Zone = "a-od", "zone-a"
		}
	}
	exec = sparksim.ExecutorPod(app, driver, 1)
	exec.UID = "exec"
	exec.Annotations = maps.Clone(tc.execAnn)
	if tc.template != nil {
		tc.template(exec)
	}
	// The webhook's cache reads the escape's mark from the app's pods.
	return driver, exec, placement.Input{Pod: exec, Driver: info, AppFallback: tc.driverAnn[placement.AnnotationZoneFallback], Config: cfg}
}

// ruleNodes are the two-zone cluster of the cases.
func ruleNodes(cfg *v1alpha1.SparkplaneConfiguration) []*corev1.Node {
	var nodes []*corev1.Node
	for _, n := range []struct {
		name, zone string
		capacity   v1alpha1.CapacityType
	}{{"a-od", "zone-a", v1alpha1.CapacityOnDemand}, {"a-spot", "zone-a", v1alpha1.CapacitySpot},
		{"b-od", "zone-b", v1alpha1.CapacityOnDemand}, {"b-spot", "zone-b", v1alpha1.CapacitySpot}} {
		labels := maps.Clone(cfg.Provider.NodeLabels(n.capacity))
		labels[cfg.ZoneLabel] = n.zone
		nodes = append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: labels}})
	}
	return nodes
}

// TestExecutorRuleWebhookAndScheduler runs each executor-rule case through
// the webhook path (placement.Decide; the pod it returns is then held to
// its own node constraints by any scheduler) and the scheduler path (the
// SparkGang plugin's PreFilter and Filter): the scheduler alone on the pod
// as Spark created it, and the webhook and scheduler together on the
// webhook's pod. Every path must allow exactly the nodes the case wants.
func TestExecutorRuleWebhookAndScheduler(t *testing.T) {
	cfg := v1alpha1.Default()
	nodes := ruleNodes(cfg)
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			driver, exec, in := tc.pods(cfg)
			d := placement.Decide(in)
			if d.ZoneOutcome != tc.outcome {
				t.Errorf("webhook: zone outcome %q, want %q (%s)", d.ZoneOutcome, tc.outcome, d.Explanation())
			}
			paths := []struct {
				name string
				got  []string
			}{
				{"webhook", podAllows(d.Pod, nodes)},
				{"scheduler", intersect(podAllows(exec, nodes), pluginAllows(t, cfg, nodes, driver, exec))},
				{"webhook+scheduler", intersect(podAllows(d.Pod, nodes), pluginAllows(t, cfg, nodes, driver, d.Pod))},
			}
			for _, p := range paths {
				if !slices.Equal(p.got, tc.want) {
					t.Errorf("%s: executor may go to %v, want %v (webhook decided: %s)", p.name, p.got, tc.want, d.Explanation())
				}
			}
		})
	}
}

// podAllows are the nodes the pod's own node selector and required node
// affinity allow (the nodes have no taints).
func podAllows(pod *corev1.Pod, nodes []*corev1.Node) []string {
	req := nodeaffinity.GetRequiredNodeAffinity(pod)
	var out []string
	for _, n := range nodes {
		if ok, err := req.Match(n); err == nil && ok {
			out = append(out, n.Name)
		}
	}
	return out
}

// pluginAllows are the nodes a fresh SparkGang plugin that knows the
// driver and the nodes lets the executor onto: those its PreFilter offers
// and its Filter passes.
func pluginAllows(t *testing.T, cfg *v1alpha1.SparkplaneConfiguration, nodes []*corev1.Node, driver, exec *corev1.Pod) []string {
	t.Helper()
	p := rulePlugin(t, cfg, nodes, driver)
	infos := make([]fwk.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		infos = append(infos, nodeInfo(n))
	}
	ctx := context.Background()
	state := framework.NewCycleState()
	res, st := p.PreFilter(ctx, state, exec, infos)
	if !st.IsSuccess() {
		t.Logf("scheduler: PreFilter: %s", st.Message())
		return nil
	}
	var out []string
	for _, ni := range infos {
		name := ni.Node().Name
		if res != nil && !res.AllNodes() && !res.NodeNames.Has(name) {
			continue
		}
		if st := p.Filter(ctx, state, exec, ni); st.IsSuccess() {
			out = append(out, name)
		}
	}
	return out
}

// rulePlugin is a SparkGang plugin that knows the nodes and the driver.
func rulePlugin(t *testing.T, cfg *v1alpha1.SparkplaneConfiguration, nodes []*corev1.Node, driver *corev1.Pod) *SparkGang {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range nodes {
		if err := idx.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	p := &SparkGang{
		args: &SparkGangArgs{Placement: cfg}, ledger: gang.NewLedger(), apps: newTracker(gang.LabelQueue, SchedulerName),
		nodeLister: corelisters.NewNodeLister(idx), ready: true, now: time.Now,
	}
	if driver != nil {
		p.apps.observe(driver)
	}
	return p
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
