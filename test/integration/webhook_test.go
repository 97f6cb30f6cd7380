package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

var zones3 = []string{"zone-a", "zone-b", "zone-c"}

// 20 concurrent apps of 5-10 executors: every executor lands in its
// driver's zone, drivers only on on-demand, executors on spot (spot has
// room), and drivers are free to use every zone.
func TestConcurrentAppsFollowTheirDriversZone(t *testing.T) {
	ns := namespace(t)
	nodes := createNodes(t, perZone(zones3, "16", "48")...)
	apiBefore := shared.wh.Metrics.APIRequestCount()

	const apps = 20
	drivers := make([]*sparksim.Driver, apps)
	var wg sync.WaitGroup
	for i := 0; i < apps; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			drivers[i] = startApp(t, sparksim.App{
				Namespace: ns, Name: fmt.Sprintf("app-%02d", i), Executors: 5 + i%6,
				BatchDelay: 200 * time.Millisecond, DriverCPU: "500m", ExecutorCPU: "500m", ExecutorMemory: "512Mi",
			})
		}(i)
	}
	wg.Wait()

	driverZones := map[string]int{}
	executors := 0
	for _, d := range drivers {
		if t.Failed() {
			return
		}
		drv := getPod(t, ns, d.Pod.Name)
		dn := nodes[drv.Spec.NodeName]
		if dn.capacity != v1alpha1.CapacityOnDemand {
			t.Errorf("driver %s on %s capacity", drv.Name, dn.capacity)
		}
		driverZones[dn.zone]++
		for _, e := range waitExecutors(t, d, d.App.Executors, 2*time.Minute) {
			executors++
			en := nodes[e.Spec.NodeName]
			if en.zone != dn.zone {
				t.Errorf("executor %s in %s, its driver in %s", e.Name, en.zone, dn.zone)
			}
			if en.capacity != v1alpha1.CapacitySpot {
				t.Errorf("executor %s on %s capacity although spot had room", e.Name, en.capacity)
			}
			if why := e.Annotations[placement.AnnotationDecision]; !strings.Contains(why, "zone "+dn.zone+" required: driver "+drv.Name) {
				t.Errorf("executor %s decision %q", e.Name, why)
			}
		}
	}
	if len(driverZones) < 2 {
		t.Errorf("drivers used zones %v; they should go wherever there is room", driverZones)
	}
	// Admissions are answered from informer caches: the webhook sent no API
	// request while admitting 20 drivers and all their executors.
	if n := shared.wh.Metrics.APIRequestCount() - apiBefore; n != 0 {
		t.Errorf("webhook sent %d API requests during %d admissions", n, apps+executors)
	}
	t.Logf("%d apps, %d executors; drivers per zone %v", apps, executors, driverZones)
}

// When spot in the driver's zone is full, executors spill to on-demand in
// the same zone, never to another zone.
func TestSpotFullSpillsToOnDemandInSameZone(t *testing.T) {
	ns := namespace(t)
	nodes := createNodes(t, perZone(zones3, "8", "1")...) // spot: room for two 500m executors per zone
	d := startApp(t, sparksim.App{Namespace: ns, Name: "spill", Executors: 5, BatchDelay: 200 * time.Millisecond,
		DriverCPU: "500m", ExecutorCPU: "500m", ExecutorMemory: "512Mi"})
	zone := nodes[getPod(t, ns, d.Pod.Name).Spec.NodeName].zone
	onSpot := 0
	for _, e := range waitExecutors(t, d, 5, time.Minute) {
		n := nodes[e.Spec.NodeName]
		if n.zone != zone {
			t.Errorf("executor %s in %s, driver in %s", e.Name, n.zone, zone)
		}
		if n.capacity == v1alpha1.CapacitySpot {
			onSpot++
		}
	}
	if onSpot != 2 {
		t.Errorf("%d executors on spot, want 2 (spot first while it has room)", onSpot)
	}
}

// Constraints from pod templates and spark.kubernetes.*.node.selector.* are
// kept and intersected with sparkplane's.
func TestTemplateConstraintsSurvive(t *testing.T) {
	ns := namespace(t)
	ssd := map[string]string{"disktype": "ssd", "team": "data"}
	var layout []node
	for _, z := range zones3 {
		layout = append(layout,
			node{zone: z, capacity: v1alpha1.CapacityOnDemand, cpu: "8", labels: map[string]string{"team": "data"}},
			node{zone: z, capacity: v1alpha1.CapacitySpot, cpu: "16", labels: ssd},
			node{zone: z, capacity: v1alpha1.CapacitySpot, cpu: "16", labels: map[string]string{"team": "data", "disktype": "hdd"}},
		)
	}
	nodes := createNodes(t, layout...)
	toleration := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "spark", Effect: corev1.TaintEffectNoSchedule}
	d := startApp(t, sparksim.App{
		Namespace: ns, Name: "templated", Executors: 4, BatchDelay: 200 * time.Millisecond, ExecutorCPU: "500m",
		DriverTemplate: func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"team": "data"} // spark.kubernetes.node.selector.team=data
			p.Spec.Tolerations = []corev1.Toleration{toleration}
		},
		ExecutorTemplate: func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"team": "data"}
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "disktype", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}},
				}}},
			}}}
		},
	})
	drv := getPod(t, ns, d.Pod.Name)
	zone := nodes[drv.Spec.NodeName].zone
	if drv.Spec.NodeSelector["team"] != "data" || len(drv.Spec.Tolerations) == 0 || drv.Spec.Tolerations[0] != toleration {
		t.Errorf("driver lost its template constraints: %+v", drv.Spec)
	}
	for _, e := range waitExecutors(t, d, 4, time.Minute) {
		n := nodes[e.Spec.NodeName]
		if n.zone != zone || n.labels["disktype"] != "ssd" {
			t.Errorf("executor %s on %s (zone %s disktype %s), want zone %s ssd", e.Name, e.Spec.NodeName, n.zone, n.labels["disktype"], zone)
		}
		// The template's term is kept as it was; the zone is ANDed through the nodeSelector.
		terms := e.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 || terms[0].MatchExpressions[0].Key != "disktype" ||
			e.Spec.NodeSelector[corev1.LabelTopologyZone] != zone || e.Spec.NodeSelector["team"] != "data" {
			t.Errorf("executor %s constraints: nodeSelector %v terms %v", e.Name, e.Spec.NodeSelector, terms)
		}
	}
}

// Client mode: no driver pod; the executors still end up in one zone.
func TestClientModeExecutorsShareOneZone(t *testing.T) {
	ns := namespace(t)
	nodes := createNodes(t, perZone(zones3, "8", "16")...)
	d := startApp(t, sparksim.App{Namespace: ns, Name: "notebook", ClientMode: true, Executors: 6, BatchSize: 3,
		BatchDelay: 200 * time.Millisecond, ExecutorCPU: "500m"})
	used := map[string]int{}
	for _, e := range waitExecutors(t, d, 6, time.Minute) {
		used[nodes[e.Spec.NodeName].zone]++
		if e.Annotations[placement.AnnotationZoneMode] != string(placement.ZoneAppAffinity) {
			t.Errorf("executor %s zone mode %q", e.Name, e.Annotations[placement.AnnotationZoneMode])
		}
	}
	if len(used) != 1 {
		t.Errorf("client-mode executors spread over zones %v", used)
	}
}

// The driver's zone has no room for executors: after the escape window the
// stuck executors are deleted, the app is marked, and the replacements run
// in another zone. The job does not pend forever.
func TestAvailabilityEscape(t *testing.T) {
	ns := namespace(t)
	nodes := createNodes(t,
		node{zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "1"}, // room for the driver only
		node{zone: "zone-b", capacity: v1alpha1.CapacityOnDemand, cpu: "8"},
		node{zone: "zone-b", capacity: v1alpha1.CapacitySpot, cpu: "8"},
	)
	d := startApp(t, sparksim.App{
		Namespace: ns, Name: "stuck", Executors: 3, BatchDelay: 200 * time.Millisecond, DriverCPU: "1", ExecutorCPU: "1",
		DriverTemplate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"topology.kubernetes.io/zone": "zone-a"} },
	})
	start := time.Now()
	execs := waitExecutors(t, d, 3, time.Minute+escapeWindow)
	t.Logf("executors running %s after submission (escape window %s)", time.Since(start).Round(time.Millisecond), escapeWindow)
	for _, e := range execs {
		if z := nodes[e.Spec.NodeName].zone; z != "zone-b" {
			t.Errorf("executor %s in %s", e.Name, z)
		}
		if e.Annotations[placement.AnnotationZoneMode] != string(placement.ZoneEscaped) {
			t.Errorf("replacement %s zone mode %q, want escaped", e.Name, e.Annotations[placement.AnnotationZoneMode])
		}
	}
	if d.Created() <= 3 {
		t.Errorf("driver created %d executors; the stuck ones should have been deleted and replaced", d.Created())
	}
	drv := getPod(t, ns, d.Pod.Name)
	if !strings.Contains(drv.Annotations[placement.AnnotationZoneFallback], "unschedulable in zone zone-a") {
		t.Errorf("driver mark %q", drv.Annotations[placement.AnnotationZoneFallback])
	}
	var events *corev1.EventList
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		events, err = shared.cp.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=ZoneFallback"})
		if err == nil && len(events.Items) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(events.Items) == 0 || events.Items[0].InvolvedObject.Name != drv.Name {
		t.Errorf("no ZoneFallback event on the driver: %+v", events.Items)
	}
}

// Per-app overrides from driver annotations, inherited by executors; an
// invalid driver annotation is denied at submission with a clear message.
func TestPerAppOverrides(t *testing.T) {
	ns := namespace(t)
	nodes := createNodes(t, perZone(zones3, "8", "16")...)
	d := startApp(t, sparksim.App{
		Namespace: ns, Name: "ondemand", Executors: 3, BatchDelay: 200 * time.Millisecond, ExecutorCPU: "500m",
		DriverAnnotations: map[string]string{placement.AnnotationExecutorCapacity: "on-demand", placement.AnnotationDriverCapacity: "prefer-spot"},
	})
	drv := getPod(t, ns, d.Pod.Name)
	if nodes[drv.Spec.NodeName].capacity != v1alpha1.CapacitySpot {
		t.Errorf("driver preferring spot landed on %s", nodes[drv.Spec.NodeName].capacity)
	}
	for _, e := range waitExecutors(t, d, 3, time.Minute) {
		if n := nodes[e.Spec.NodeName]; n.capacity != v1alpha1.CapacityOnDemand || n.zone != nodes[drv.Spec.NodeName].zone {
			t.Errorf("executor %s on %+v", e.Name, n)
		}
	}

	bad := sparksim.DriverPod(sparksim.App{Namespace: ns, Name: "bad", DriverAnnotations: map[string]string{placement.AnnotationZonePinning: "sometimes"}})
	_, err := shared.cp.Client.CoreV1().Pods(ns).Create(context.Background(), bad, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `sparkplane.io/zone-pinning="sometimes" is not valid: allowed values are required (alias: on), preferred, off`) {
		t.Errorf("invalid driver annotation: err = %v", err)
	}
}

// Executors without an ownerReference (the StatefulSet allocator, or a
// submitter that strips it) find their driver by spark-app-selector.
func TestDriverFoundByAppSelector(t *testing.T) {
	ns := namespace(t)
	nodes := createNodes(t, perZone(zones3, "8", "16")...)
	d := startApp(t, sparksim.App{Namespace: ns, Name: "sts", Executors: 3, BatchDelay: 200 * time.Millisecond, ExecutorCPU: "500m",
		ExecutorTemplate: func(p *corev1.Pod) { p.OwnerReferences = nil }})
	drv := getPod(t, ns, d.Pod.Name)
	zone := nodes[drv.Spec.NodeName].zone
	for _, e := range waitExecutors(t, d, 3, time.Minute) {
		if nodes[e.Spec.NodeName].zone != zone || !strings.Contains(e.Annotations[placement.AnnotationDecision], "(found by spark-app-selector)") {
			t.Errorf("executor %s in %s (driver in %s): %q", e.Name, nodes[e.Spec.NodeName].zone, zone, e.Annotations[placement.AnnotationDecision])
		}
	}
}

// Issue 12 item 4: a driver created through the API server carries
// Karpenter's do-not-disrupt annotation (the default karpenter preset), so
// consolidation cannot evict it; its executors do not (Spark replaces
// them). An app turns its driver's protection off with an annotation, and a
// driver's own do-not-disrupt=false is kept.
func TestDriversAreProtectedFromDisruption(t *testing.T) {
	const doNotDisrupt = v1alpha1.AnnotationKarpenterDoNotDisrupt
	ns := namespace(t)
	createNodes(t, perZone(zones3, "8", "16")...)
	d := startApp(t, sparksim.App{Namespace: ns, Name: "protected", Executors: 2, BatchDelay: 200 * time.Millisecond, ExecutorCPU: "500m"})
	drv := getPod(t, ns, d.Pod.Name)
	if v, ok := drv.Annotations[doNotDisrupt]; !ok || v != "true" {
		t.Errorf("driver %s: %s=%q (present %v), want \"true\"; decision %q", drv.Name, doNotDisrupt, v, ok, drv.Annotations[placement.AnnotationDecision])
	}
	if why := drv.Annotations[placement.AnnotationDecision]; !strings.Contains(why, "protected from voluntary disruption: karpenter.sh/do-not-disrupt=true (config driver)") {
		t.Errorf("driver decision %q does not say it is protected", why)
	}
	for _, e := range waitExecutors(t, d, 2, time.Minute) {
		if v, ok := e.Annotations[doNotDisrupt]; ok {
			t.Errorf("executor %s carries %s=%q; executors are not protected by default", e.Name, doNotDisrupt, v)
		}
		if why := e.Annotations[placement.AnnotationDecision]; !strings.Contains(why, "not protected from voluntary disruption (config executor)") {
			t.Errorf("executor %s decision %q", e.Name, why)
		}
	}

	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        string // the driver's do-not-disrupt; "" means absent
	}{
		{"unprotected", map[string]string{placement.AnnotationDriverProtection: "off"}, ""},
		{"own-false", map[string]string{doNotDisrupt: "false"}, "false"},
	} {
		pod := sparksim.DriverPod(sparksim.App{Namespace: ns, Name: tc.name, DriverAnnotations: tc.annotations})
		created, err := shared.cp.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating driver %s: %v", tc.name, err)
		}
		if v := created.Annotations[doNotDisrupt]; v != tc.want {
			t.Errorf("driver %s: %s=%q, want %q; decision %q", tc.name, doNotDisrupt, v, tc.want, created.Annotations[placement.AnnotationDecision])
		}
	}
}
