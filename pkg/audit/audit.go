// Package audit summarises where Spark apps run: per app the driver's zone
// and capacity type, executors per zone and capacity type, executors outside
// their driver's zone (cross-zone driver<->executor pairs) and pending
// executors with the reason, plus what the cross-zone traffic costs. It is
// pure: callers pass the pods, the nodes and event logs.
//
// Classify is the one definition of "cross-zone" that `sparkplane audit`
// and the webhook's placement gauges share.
package audit

import (
	"cmp"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// Placement is a zone and capacity type.
type Placement struct {
	Zone     string
	Capacity v1alpha1.CapacityType
}

// PlacementOf reads a node's placement from its labels: the zone from
// zoneLabel, the capacity type as the provider labels it.
func PlacementOf(labels map[string]string, provider v1alpha1.Provider, zoneLabel string) Placement {
	return Placement{Zone: labels[zoneLabel], Capacity: provider.CapacityTypeOf(labels)}
}

// NodeLookup returns the placement of a node by name, and false for a node
// that is not known.
type NodeLookup func(name string) (Placement, bool)

// Relation is where an executor runs relative to its driver's zone.
type Relation string

const (
	// SameZone: bound in its driver's zone.
	SameZone Relation = "same-zone"
	// CrossZone: bound outside its driver's zone; every byte between them
	// (and between it and the driver-zone executors) crosses zones.
	CrossZone Relation = "cross-zone"
	// Pending: not bound to a node yet.
	Pending Relation = "pending"
	// Unknown: bound, but a zone to compare is missing: the app has no bound
	// driver pod (client mode, driver gone or pending), or the executor's or
	// the driver's node is unknown or has no zone label.
	Unknown Relation = "unknown"
)

// Relations lists every Relation, in a stable order.
func Relations() []Relation { return []Relation{SameZone, CrossZone, Pending, Unknown} }

// Classify says where an executor runs relative to its driver. driverZone
// is "" when the driver's zone is not known; executorZone is the zone of the
// executor's node ("" when unknown) and only read when bound.
func Classify(bound bool, driverZone, executorZone string) Relation {
	switch {
	case !bound:
		return Pending
	case driverZone == "" || executorZone == "":
		return Unknown
	case driverZone == executorZone:
		return SameZone
	}
	return CrossZone
}

// Waiting says why a pod is not bound to a node.
type Waiting struct {
	// Reason is the reason of the pod's PodScheduled=False condition
	// (Unschedulable, SchedulingGated, ...), or NotScheduledYet when no
	// scheduler has reported on the pod.
	Reason string
	// Message is the condition's message (for Unschedulable the scheduler's
	// per-node summary), or what is known without one.
	Message string
	// Since is when the pod started waiting: the condition's transition
	// time, else the pod's creation.
	Since time.Time
	// Decision, ZoneMode and Zone are the sparkplane.io/decision, /zone-mode
	// and /zone annotations the webhook wrote: why the pod is constrained.
	Decision, ZoneMode, Zone string
}

// ReasonNotScheduledYet is the Waiting reason of a pod that no scheduler
// has reported on.
const ReasonNotScheduledYet = "NotScheduledYet"

// WaitingOf explains why an unbound pod waits.
func WaitingOf(p *corev1.Pod) Waiting {
	w := Waiting{
		Since:    p.CreationTimestamp.Time,
		Decision: p.Annotations[placement.AnnotationDecision],
		ZoneMode: p.Annotations[placement.AnnotationZoneMode],
		Zone:     p.Annotations[placement.AnnotationZone],
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			w.Reason, w.Message = c.Reason, c.Message
			if !c.LastTransitionTime.IsZero() {
				w.Since = c.LastTransitionTime.Time
			}
			return w
		}
	}
	w.Reason = ReasonNotScheduledYet
	switch {
	case len(p.Spec.SchedulingGates) > 0:
		w.Reason = corev1.PodReasonSchedulingGated
		w.Message = "the pod has scheduling gates; whoever added them has not removed them yet"
	case p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName:
		w.Message = "no scheduler has reported on the pod yet; it names scheduler " + p.Spec.SchedulerName + ": is that scheduler running?"
	default:
		w.Message = "no scheduler has reported on the pod yet"
	}
	return w
}

// PendingExecutor is an executor not bound to a node.
type PendingExecutor struct {
	Pod string
	Waiting
}

// Pair is a driver and one of its executors in different zones.
type Pair struct {
	Driver, DriverZone                   string
	Executor, ExecutorNode, ExecutorZone string
	ExecutorCapacity                     v1alpha1.CapacityType
}

// DriverGoneReason says why an app with live executors has no live driver
// pod.
type DriverGoneReason string

const (
	// DriverFinished: the driver pod Succeeded or Failed while executors
	// still run (they are about to be deleted, or are kept).
	DriverFinished DriverGoneReason = "finished"
	// DriverDeleting: the driver pod is being deleted.
	DriverDeleting DriverGoneReason = "deleting"
	// DriverNotFound: the executors' ownerReference names a driver pod
	// that does not exist (deleted; its executors go next, by garbage
	// collection, unless orphaned).
	DriverNotFound DriverGoneReason = "not-found"
	// DriverClientMode: the executors have no driver ownerReference and
	// no driver pod of the app exists: the driver runs outside the
	// cluster or outside a pod (client mode).
	DriverClientMode DriverGoneReason = "client-mode"
)

// DriverGone says what became of an app's driver pod.
type DriverGone struct {
	Reason DriverGoneReason
	// Pod is the driver pod's name, when known (from the executors'
	// ownerReference or the finished pod).
	Pod string
	// Phase is the finished driver's phase (Succeeded or Failed).
	Phase corev1.PodPhase
}

// String says it in words, for the table.
func (g DriverGone) String() string {
	switch g.Reason {
	case DriverFinished:
		return "driver " + string(g.Phase) + " (" + g.Pod + ")"
	case DriverDeleting:
		return "driver being deleted (" + g.Pod + ")"
	case DriverNotFound:
		return "driver pod deleted (" + g.Pod + " not found)"
	}
	return "no driver pod (client mode)"
}

// App is one Spark app's placement.
type App struct {
	Namespace, AppID, Name string
	// DriverPod is the driver pod's name; "" when the app has no live
	// driver pod (client mode, or the driver is gone).
	DriverPod  string
	DriverNode string
	// DriverGone says why there is no live driver pod; nil when there is.
	DriverGone *DriverGone
	// Driver is where the driver runs; nil unless its pod is bound.
	Driver *Placement
	// DriverWaiting says why the driver pod is not bound; nil otherwise.
	DriverWaiting *Waiting
	// Executors counts bound executors per placement.
	Executors map[Placement]int
	// SameZone, CrossZone and UnknownZone count bound executors by Relation.
	SameZone, CrossZone, UnknownZone int
	// CrossZonePairs are the executors outside their driver's zone.
	CrossZonePairs []Pair
	// Pending are the executors not bound to a node, by pod name.
	Pending []PendingExecutor
}

// BoundExecutors is the number of executors with a node.
func (a App) BoundExecutors() int { return a.SameZone + a.CrossZone + a.UnknownZone }

// FinishedApp is an app with no live pod left and a finished driver pod.
type FinishedApp struct {
	Namespace, AppID, Name string
	DriverPod              string
	// Phase is the driver pod's: Succeeded or Failed.
	Phase corev1.PodPhase
	// Executors counts the finished executor pods kept
	// (spark.kubernetes.executor.deleteOnTermination=false).
	Executors int
}

// Report is the placement of every Spark app.
type Report struct {
	// Apps have at least one live pod (not finished, not being deleted).
	Apps []App
	// Finished apps are not in Apps and not counted in the totals but for
	// FinishedApps.
	Finished []FinishedApp
}

// Totals over the report.
type Totals struct {
	Apps int
	// Drivers are bound drivers; DriversPending wait for a node.
	Drivers, DriversOnDemand, DriversPending int
	// Executors are bound executors, split by Relation into SameZone,
	// CrossZone and UnknownZone; Pending are not bound.
	Executors, ExecutorsSpot         int
	SameZone, CrossZone, UnknownZone int
	Pending                          int
	// AppsCrossZone have at least one executor outside the driver's zone.
	AppsCrossZone int
	// FinishedApps are Report.Finished: apps whose driver Succeeded or
	// Failed and that have no live pod.
	FinishedApps int
}

// Totals sums the report.
func (r Report) Totals() Totals {
	var t Totals
	t.Apps = len(r.Apps)
	t.FinishedApps = len(r.Finished)
	for _, a := range r.Apps {
		if a.Driver != nil {
			t.Drivers++
			if a.Driver.Capacity == v1alpha1.CapacityOnDemand {
				t.DriversOnDemand++
			}
		}
		if a.DriverWaiting != nil {
			t.DriversPending++
		}
		for p, n := range a.Executors {
			t.Executors += n
			if p.Capacity == v1alpha1.CapacitySpot {
				t.ExecutorsSpot += n
			}
		}
		t.SameZone += a.SameZone
		t.CrossZone += a.CrossZone
		t.UnknownZone += a.UnknownZone
		t.Pending += len(a.Pending)
		if a.CrossZone > 0 {
			t.AppsCrossZone++
		}
	}
	return t
}

// Count is the number of executors with the relation.
func (t Totals) Count(r Relation) int {
	switch r {
	case SameZone:
		return t.SameZone
	case CrossZone:
		return t.CrossZone
	case Pending:
		return t.Pending
	}
	return t.UnknownZone
}

// CrossZoneShare is the share (0-1) of executors outside their driver's
// zone among the bound executors whose zone and driver's zone are known.
func (t Totals) CrossZoneShare() float64 {
	if t.SameZone+t.CrossZone == 0 {
		return 0
	}
	return float64(t.CrossZone) / float64(t.SameZone+t.CrossZone)
}

// Summarize builds the report from Spark pods and the nodes they run on,
// with zones and capacity types read from the nodes' labels.
func Summarize(pods []corev1.Pod, nodes []corev1.Node, provider v1alpha1.Provider, zoneLabel string) Report {
	where := make(map[string]Placement, len(nodes))
	for _, n := range nodes {
		where[n.Name] = PlacementOf(n.Labels, provider, zoneLabel)
	}
	ptrs := make([]*corev1.Pod, len(pods))
	for i := range pods {
		ptrs[i] = &pods[i]
	}
	return SummarizePods(ptrs, func(name string) (Placement, bool) { p, ok := where[name]; return p, ok })
}

// live reports whether a pod counts: not finished (Succeeded, Failed) and
// not being deleted.
func live(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func finished(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)
}

// SummarizePods builds the report from Spark pods (other pods are ignored)
// and a node lookup. Apps with a live pod are placed; finished pods and
// pods being deleted are left out of them. An executor's driver is the one
// its ownerReference names, else its app's newest driver (client mode has
// none). Apps with no live pod and a finished driver are listed as
// finished.
func SummarizePods(pods []*corev1.Pod, nodes NodeLookup) Report {
	type key struct{ ns, app string }
	apps := map[key]*App{}
	appPods := map[key][]*corev1.Pod{}
	byName := map[key]*corev1.Pod{}     // live drivers by namespace/name
	allDrivers := map[key]*corev1.Pod{} // every driver by namespace/name
	ended := map[key][]*corev1.Pod{}    // finished or deleting pods by app
	for _, p := range pods {
		r := spark.RoleOf(p)
		if r != spark.RoleDriver && r != spark.RoleExecutor {
			continue
		}
		if r == spark.RoleDriver {
			allDrivers[key{p.Namespace, p.Name}] = p
		}
		if !live(p) {
			k := key{p.Namespace, spark.AppID(p)}
			ended[k] = append(ended[k], p)
			continue
		}
		k := key{p.Namespace, spark.AppID(p)}
		if apps[k] == nil {
			apps[k] = &App{Namespace: k.ns, AppID: k.app, Name: p.Labels[spark.LabelAppName], Executors: map[Placement]int{}}
		}
		appPods[k] = append(appPods[k], p)
		if spark.RoleOf(p) == spark.RoleDriver {
			byName[key{p.Namespace, p.Name}] = p
		}
	}
	zoneOf := func(d *corev1.Pod) string {
		if d == nil || d.Spec.NodeName == "" {
			return ""
		}
		pl, _ := nodes(d.Spec.NodeName)
		return pl.Zone
	}
	for k, a := range apps {
		drv := spark.AppDriver(appPods[k])
		if drv == nil {
			a.DriverGone = driverGone(appPods[k], ended[k], func(name string) *corev1.Pod { return allDrivers[key{k.ns, name}] })
		}
		if drv != nil {
			a.DriverPod, a.DriverNode = drv.Name, drv.Spec.NodeName
			if drv.Spec.NodeName == "" {
				w := WaitingOf(drv)
				a.DriverWaiting = &w
			} else {
				pl, _ := nodes(drv.Spec.NodeName)
				a.Driver = &pl
			}
		}
		for _, p := range appPods[k] {
			if spark.RoleOf(p) != spark.RoleExecutor {
				continue
			}
			d := drv
			if ref := spark.DriverOwner(p); ref != nil {
				if o := byName[key{p.Namespace, ref.Name}]; o != nil && o.UID == ref.UID {
					d = o
				}
			}
			var pl Placement
			if p.Spec.NodeName != "" {
				pl, _ = nodes(p.Spec.NodeName)
				a.Executors[pl]++
			}
			switch Classify(p.Spec.NodeName != "", zoneOf(d), pl.Zone) {
			case Pending:
				a.Pending = append(a.Pending, PendingExecutor{Pod: p.Name, Waiting: WaitingOf(p)})
			case SameZone:
				a.SameZone++
			case CrossZone:
				a.CrossZone++
				a.CrossZonePairs = append(a.CrossZonePairs, Pair{
					Driver: d.Name, DriverZone: zoneOf(d),
					Executor: p.Name, ExecutorNode: p.Spec.NodeName, ExecutorZone: pl.Zone, ExecutorCapacity: pl.Capacity,
				})
			default:
				a.UnknownZone++
			}
		}
		slices.SortFunc(a.Pending, func(x, y PendingExecutor) int { return cmp.Compare(x.Pod, y.Pod) })
		slices.SortFunc(a.CrossZonePairs, func(x, y Pair) int { return cmp.Compare(x.Executor, y.Executor) })
	}
	r := Report{Apps: make([]App, 0, len(apps))}
	for _, a := range apps {
		r.Apps = append(r.Apps, *a)
	}
	slices.SortFunc(r.Apps, func(x, y App) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.AppID, y.AppID))
	})
	for k, ps := range ended {
		if apps[k] != nil {
			continue
		}
		if f, ok := finishedApp(ps); ok {
			r.Finished = append(r.Finished, f)
		}
	}
	slices.SortFunc(r.Finished, func(x, y FinishedApp) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.AppID, y.AppID))
	})
	return r
}

// driverGone says what became of the driver of an app with live executors
// and no live driver pod. driver finds a driver pod by name, in any state.
func driverGone(live, ended []*corev1.Pod, driver func(name string) *corev1.Pod) *DriverGone {
	for _, p := range live {
		ref := spark.DriverOwner(p)
		if spark.RoleOf(p) != spark.RoleExecutor || ref == nil {
			continue
		}
		d := driver(ref.Name)
		switch {
		case d == nil || d.UID != ref.UID:
			return &DriverGone{Reason: DriverNotFound, Pod: ref.Name}
		case d.DeletionTimestamp != nil:
			return &DriverGone{Reason: DriverDeleting, Pod: d.Name}
		case finished(d):
			return &DriverGone{Reason: DriverFinished, Pod: d.Name, Phase: d.Status.Phase}
		}
	}
	// No ownerReference: a finished driver of the app still tells.
	if f, ok := finishedApp(ended); ok {
		return &DriverGone{Reason: DriverFinished, Pod: f.DriverPod, Phase: f.Phase}
	}
	return &DriverGone{Reason: DriverClientMode}
}

// finishedApp describes an app by its ended pods: the newest finished
// driver and the finished executors; false without a finished driver.
func finishedApp(pods []*corev1.Pod) (FinishedApp, bool) {
	var drv *corev1.Pod
	execs := 0
	for _, p := range pods {
		if !finished(p) {
			continue
		}
		switch spark.RoleOf(p) {
		case spark.RoleExecutor:
			execs++
		case spark.RoleDriver:
			if drv == nil || p.CreationTimestamp.After(drv.CreationTimestamp.Time) {
				drv = p
			}
		}
	}
	if drv == nil {
		return FinishedApp{}, false
	}
	return FinishedApp{Namespace: drv.Namespace, AppID: spark.AppID(drv), Name: drv.Labels[spark.LabelAppName],
		DriverPod: drv.Name, Phase: drv.Status.Phase, Executors: execs}, true
}

// ExecutorZones maps the executor ids (spark-exec-id) of one app (Spark app
// ids are unique, so in any namespace) to the zones of their nodes, for
// ShuffleFromEventLog. Finished executors count: their pods keep the node
// they ran on.
func ExecutorZones(pods []*corev1.Pod, appID string, nodes NodeLookup) map[string]string {
	zones := map[string]string{}
	for _, p := range pods {
		id := p.Labels[spark.LabelExecID]
		if spark.RoleOf(p) != spark.RoleExecutor || spark.AppID(p) != appID || id == "" || p.Spec.NodeName == "" {
			continue
		}
		if pl, ok := nodes(p.Spec.NodeName); ok && pl.Zone != "" {
			zones[id] = pl.Zone
		}
	}
	return zones
}
