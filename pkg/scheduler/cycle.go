package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

const (
	stateKey    fwk.StateKey = PluginName
	reservedKey fwk.StateKey = PluginName + "/reserved"
)

// cycleData is computed once per scheduling cycle in PreFilter and only
// read afterwards, so Clone may share it.
type cycleData struct {
	role spark.Role
	app  gang.AppKey
	// req is the pod's request; held the slots other apps hold per node.
	req  gang.Resources
	held map[string]gang.NodeHold

	// A driver's gang: its shape, policy, the cluster without
	// reservations, and the driver nodes Fit allows, ranked.
	shape      gang.Shape
	policy     gang.Policy
	snap       gang.Snapshot
	candidates map[string]int
	created    time.Time
	queue      string

	// An executor's: its rule's zone (placement.DecideExecutor, as the
	// webhook decides it), whether it is required, its app's remaining
	// slots per node, and its capacity rule.
	zone         string
	zoneRequired bool
	slots        map[string]int
	execRule     v1alpha1.CapacityRule
}

func (c *cycleData) Clone() fwk.StateData { return c }

// reservedData is what Reserve decided for a driver, for PostBind's event.
type reservedData struct {
	reasons gang.Reasons
	expires time.Time
	slots   int
}

func (r *reservedData) Clone() fwk.StateData { return r }

func readCycle(state fwk.CycleState) (*cycleData, error) {
	v, err := state.Read(stateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %s cycle state: %w", PluginName, err)
	}
	c, ok := v.(*cycleData)
	if !ok {
		return nil, fmt.Errorf("%s cycle state has type %T", PluginName, v)
	}
	return c, nil
}

// PreFilter computes, once per cycle: for a driver, where its whole gang
// fits (gang.Fit on the snapshot with every other app's reservation
// applied), restricting the driver to the nodes where it does; for every
// pod, the room other apps' reservations hold per node (for Filter).
func (p *SparkGang) PreFilter(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	now := p.now()
	cd := &cycleData{req: gang.PodRequests(pod), role: spark.RoleOf(pod)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready {
		return nil, fwk.AsStatus(fmt.Errorf("sparkplane is rebuilding its gang reservations"))
	}
	a := p.apps.observeIfNew(pod)
	switch {
	case a != nil && cd.role == spark.RoleDriver && a.driver != nil && a.driver.UID == pod.UID:
		res, st := p.preFilterDriver(ctx, cd, a, pod, nodes, now)
		if st.IsSuccess() {
			state.Write(stateKey, cd)
		}
		return res, st
	case a != nil && cd.role == spark.RoleExecutor:
		p.preFilterExecutor(cd, a, pod)
	default:
		cd.role = spark.RoleNone
	}
	cd.held = p.ledger.HeldPerNode(cd.app)
	state.Write(stateKey, cd)
	if cd.zoneRequired {
		return p.zoneNodes(cd.zone, nodes)
	}
	return nil, nil
}

// zoneNodes restricts an executor pinned to its driver's zone to the nodes
// of that zone before filtering: the framework then filters a third of a
// three-zone cluster instead of every node (a zone-restricted pod finds
// fewer feasible nodes than percentageOfNodesToScore asks for, so the
// framework would otherwise try them all).
// Callers hold p.mu (the index is shared between cycles).
func (p *SparkGang) zoneNodes(zone string, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	names := p.zones.names(p.args.Placement.ZoneLabel, nodes, zone)
	if names.Len() == 0 {
		return nil, fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf("no node is in zone %q, where this app's driver runs; executors of this app stay in their driver's zone", zone))
	}
	return &fwk.PreFilterResult{NodeNames: names}, nil
}

func (p *SparkGang) preFilterDriver(ctx context.Context, cd *cycleData, a *app, pod *corev1.Pod, nodes []fwk.NodeInfo, now time.Time) (*fwk.PreFilterResult, *fwk.Status) {
	logger := klog.FromContext(ctx)
	// The claim taken in PreEnqueue keeps the queue from admitting others
	// on the same room, so this check normally agrees; if the queue changed
	// anyway, the driver goes back to waiting without being marked
	// unschedulable (an error status is retried and not reported as
	// Unschedulable, which autoscalers would act on).
	if v := p.decideDriver(a, now); !v.admit {
		a.claimed = time.Time{}
		return nil, fwk.AsStatus(fmt.Errorf("queue %s changed since the driver was admitted, it waits again: %s", a.queue, v.reasons))
	}
	shape, _, _ := p.appShape(a, now)
	pol := p.policyFor(a)
	snap := p.snapshot(logger, nodes, pod, a.shape.execSelector)
	pl, reasons := gang.Fit(p.ledger.Apply(snap, a.key), shape, pol)
	if !pl.Fits() {
		a.claimed = time.Time{}
		p.noFit[pod.UID] = pod
		p.metrics.decision("driver", string(gang.OutcomeNoFit))
		logger.V(2).Info("Spark gang fits nowhere", "pod", klog.KObj(pod), "app", a.key, "reason", reasons.String())
		// Unschedulable (not a queue wait): autoscalers may add nodes.
		// Unresolvable: preemption of single pods would not place a gang.
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, reasons.String())
	}
	delete(p.noFit, pod.UID)
	cd.app, cd.shape, cd.policy, cd.snap = a.key, shape, pol, snap
	cd.created, cd.queue = a.driver.CreationTimestamp.Time, a.queue
	cd.candidates = make(map[string]int, len(pl.DriverCandidates))
	for i, n := range pl.DriverCandidates {
		cd.candidates[n] = i
	}
	cd.held = p.ledger.HeldPerNode(a.key)
	logger.V(4).Info("Spark gang fits", "pod", klog.KObj(pod), "app", a.key, "reason", reasons.String())
	return &fwk.PreFilterResult{NodeNames: sets.New(pl.DriverCandidates...)}, nil
}

// preFilterExecutor takes the executor's rule from placement.DecideExecutor,
// the function the webhook decides it with, from the same inputs: the
// executor pod (its own annotations and constraints), its driver and the
// availability escape's mark. The gang's reserved slots only steer it.
func (p *SparkGang) preFilterExecutor(cd *cycleData, a *app, pod *corev1.Pod) {
	cd.app = a.key
	if h, ok := p.ledger.Get(a.key); ok {
		cd.slots = h.Remaining
	}
	rule := placement.DecideExecutor(p.executorInput(a, pod))
	cd.zone, cd.execRule = rule.Zone, rule.Capacity
	cd.zoneRequired = rule.RequiredZone() != ""
}

// PreFilterExtensions implements fwk.PreFilterPlugin; the plugin's state
// does not depend on other pods being added or removed.
func (p *SparkGang) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter keeps the room other apps' reservations hold, and keeps executors
// in their driver's zone and on their required capacity type.
func (p *SparkGang) Filter(_ context.Context, state fwk.CycleState, _ *corev1.Pod, ni fwk.NodeInfo) *fwk.Status {
	cd, err := readCycle(state)
	if err != nil {
		return fwk.AsStatus(err)
	}
	node := ni.Node()
	if h := cd.held[node.Name]; h.Slots > 0 {
		alloc, used := ni.GetAllocatable(), ni.GetRequested()
		free := gang.Resources{MilliCPU: alloc.GetMilliCPU() - used.GetMilliCPU() - h.Room.MilliCPU, Memory: alloc.GetMemory() - used.GetMemory() - h.Room.Memory}
		if !cd.req.FitsIn(free) {
			return fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf("node %s holds %d executor slot(s) (%s) for other Spark apps' gangs; %s is left beside them, the pod needs %s",
				node.Name, h.Slots, h.Room, nonNegative(free), cd.req))
		}
		if maxPods := alloc.GetAllowedPodNumber(); maxPods > 0 && len(ni.GetPods())+h.Slots >= maxPods {
			return fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf("node %s holds %d pod slot(s) for other Spark apps' executors and has no other pod slot left", node.Name, h.Slots))
		}
	}
	if cd.role == spark.RoleExecutor {
		cfg := p.args.Placement
		if zone := node.Labels[cfg.ZoneLabel]; cd.zoneRequired && zone != cd.zone {
			return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf("node %s is in zone %q; executors of this app stay in their driver's zone %s", node.Name, zone, cd.zone))
		}
		if r := cd.execRule; r.Mode == v1alpha1.ModeRequired {
			if t := cfg.Provider.CapacityTypeOf(node.Labels); t != r.CapacityType {
				return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf("node %s is %s; executors of this app must run on %s", node.Name, t, r.CapacityType))
			}
		}
	}
	return nil
}

func nonNegative(r gang.Resources) gang.Resources {
	return gang.Resources{MilliCPU: max(r.MilliCPU, 0), Memory: max(r.Memory, 0)}
}

// PostFilter runs when no node was feasible: a driver's admission ends
// with its cycle (it is the head of its queue again, waiting for room).
func (p *SparkGang) PostFilter(_ context.Context, _ fwk.CycleState, pod *corev1.Pod, _ fwk.NodeToStatusReader) (*fwk.PostFilterResult, *fwk.Status) {
	if spark.RoleOf(pod) == spark.RoleDriver {
		p.mu.Lock()
		if a := p.apps.apps[gang.AppKeyOf(pod)]; a != nil && a.driver != nil && a.driver.UID == pod.UID {
			a.claimed = time.Time{}
		}
		p.mu.Unlock()
	}
	return nil, fwk.NewStatus(fwk.Unschedulable)
}

// PreScore skips scoring for pods the plugin has no preference for.
func (p *SparkGang) PreScore(_ context.Context, state fwk.CycleState, _ *corev1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	cd, err := readCycle(state)
	if err != nil {
		return fwk.AsStatus(err)
	}
	switch {
	case cd.role == spark.RoleDriver && len(cd.candidates) > 0:
		return nil
	case cd.role == spark.RoleExecutor && (len(cd.slots) > 0 || cd.zone != "" || cd.execRule.Mode == v1alpha1.ModePreferred):
		return nil
	}
	return fwk.NewStatus(fwk.Skip)
}

// Score ranks a driver's nodes in the order gang.Fit ranked them, and
// sends executors to their gang's reserved slots first, then to their
// driver's zone and preferred capacity type.
func (p *SparkGang) Score(_ context.Context, state fwk.CycleState, _ *corev1.Pod, ni fwk.NodeInfo) (int64, *fwk.Status) {
	cd, err := readCycle(state)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	node := ni.Node()
	switch cd.role {
	case spark.RoleDriver:
		rank, ok := cd.candidates[node.Name]
		if !ok {
			return fwk.MinScore, nil
		}
		n := int64(len(cd.candidates))
		return fwk.MaxScore * (n - int64(rank)) / n, nil
	case spark.RoleExecutor:
		if cd.slots[node.Name] > 0 {
			return fwk.MaxScore, nil
		}
		var s int64
		cfg := p.args.Placement
		if cd.zone != "" && node.Labels[cfg.ZoneLabel] == cd.zone {
			s += 50
		}
		if r := cd.execRule; r.Mode == v1alpha1.ModePreferred && cfg.Provider.CapacityTypeOf(node.Labels) == r.CapacityType {
			s += 30
		}
		return s, nil
	}
	return 0, nil
}

// ScoreExtensions implements fwk.ScorePlugin; scores are already 0-100.
func (p *SparkGang) ScoreExtensions() fwk.ScoreExtensions { return nil }

// Reserve holds a driver's gang: Fit again with the driver on the chosen
// node (reservations may have changed since PreFilter), then the ledger
// reserves the executor slots all-or-nothing, under the same lock.
func (p *SparkGang) Reserve(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodeName string) *fwk.Status {
	cd, err := readCycle(state)
	if err != nil {
		return fwk.AsStatus(err)
	}
	switch cd.role {
	case spark.RoleDriver:
		return p.reserveDriver(ctx, state, cd, pod, nodeName)
	case spark.RoleExecutor:
		// The executor takes its slot now, not when bound: the framework
		// counts it on the node from here on, and a slot still held for it
		// would count it twice and turn other pods away from free room
		// (with nothing to wake them when the slot is taken later).
		p.mu.Lock()
		var driver *corev1.Pod
		if a := p.apps.apps[cd.app]; a != nil {
			if e := a.executors[pod.UID]; e != nil {
				e.assumed = nodeName
			}
			driver = a.driver
		}
		_, complete := p.ledger.Consume(cd.app, pod.Name, nodeName)
		p.mu.Unlock()
		if complete {
			p.gangComplete(cd.app, driver)
		}
	}
	return nil
}

func (p *SparkGang) reserveDriver(ctx context.Context, state fwk.CycleState, cd *cycleData, pod *corev1.Pod, nodeName string) *fwk.Status {
	logger := klog.FromContext(ctx)
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.apps.apps[cd.app]
	if a == nil || a.driver == nil || a.driver.UID != pod.UID {
		return fwk.AsStatus(fmt.Errorf("driver %s is no longer known", klog.KObj(pod)))
	}
	pol := cd.policy
	pol.DriverNode = nodeName
	pl, reasons := gang.Fit(p.ledger.Apply(cd.snap, a.key), cd.shape, pol)
	if !pl.Fits() {
		return fwk.NewStatus(fwk.Unschedulable, "with the driver on node "+nodeName+" the gang no longer fits: "+reasons.String())
	}
	if p.ledger.Release(a.key) {
		logger.Info("Dropping a stale gang reservation of the app before reserving again", "app", a.key)
	}
	r := pl.Reservation(a.key, now.Add(p.args.ReservationTimeout.Duration))
	if err := p.ledger.Reserve(withDriver(cd.snap, nodeName, a.driverReq), r); err != nil {
		return fwk.NewStatus(fwk.Unschedulable, err.Error())
	}
	a.reserved, a.claimed = true, time.Time{}
	state.Write(reservedKey, &reservedData{reasons: reasons, expires: r.Expires, slots: r.Size()})
	p.metrics.decision("driver", outcomeReserved)
	if r.Size() > 0 {
		p.metrics.reservation(eventReserved, 1)
	}
	logger.V(2).Info("Spark gang reserved", "pod", klog.KObj(pod), "app", a.key, "node", nodeName, "zone", pl.Zone, "slots", r.Size(), "reason", reasons.String())
	p.kick(false) // the next app of the queue may be admitted now
	return nil
}

// Unreserve undoes Reserve when a later step failed.
func (p *SparkGang) Unreserve(ctx context.Context, _ fwk.CycleState, pod *corev1.Pod, nodeName string) {
	role := spark.RoleOf(pod)
	released := false
	p.mu.Lock()
	a := p.apps.apps[p.apps.keyOf(pod)]
	switch {
	case a == nil:
	case role == spark.RoleDriver && a.driver != nil && a.driver.UID == pod.UID:
		released = p.ledger.Release(a.key)
		a.reserved, a.claimed = false, time.Time{}
	case role == spark.RoleExecutor:
		// Its slot stays taken: the room may be promised to another app by
		// now, and giving it back could book it twice. The retried
		// executor is placed best effort.
		if e := a.executors[pod.UID]; e != nil && e.assumed == nodeName {
			e.assumed = ""
		}
	}
	p.mu.Unlock()
	if role == spark.RoleDriver && a != nil {
		klog.FromContext(ctx).V(2).Info("Spark gang unreserved", "pod", klog.KObj(pod), "node", nodeName, "released", released)
		if released {
			p.metrics.reservation(eventReleased, 1)
		}
		p.annotate.Add(pod.Namespace + "/" + pod.Name)
		p.kick(true)
	}
}

// PreBindPreFlight skips PreBind unless a driver's gang holds slots.
func (p *SparkGang) PreBindPreFlight(_ context.Context, state fwk.CycleState, pod *corev1.Pod, _ string) (*fwk.PreBindPreFlightResult, *fwk.Status) {
	if v, err := state.Read(reservedKey); err != nil || v.(*reservedData).slots == 0 {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	return &fwk.PreBindPreFlightResult{AllowParallel: true}, nil
}

// PreBind writes the reservation on the driver (gang.AnnotationGang)
// before it is bound, so it outlives a scheduler restart: Rebuild reads it.
func (p *SparkGang) PreBind(ctx context.Context, _ fwk.CycleState, pod *corev1.Pod, _ string) *fwk.Status {
	p.mu.Lock()
	h, ok := p.ledger.Get(gang.AppKeyOf(pod))
	p.mu.Unlock()
	if !ok {
		return nil
	}
	if err := p.setGangAnnotation(ctx, pod.Namespace, pod.Name, ptrTo(h.Encode())); err != nil {
		return fwk.AsStatus(fmt.Errorf("writing the gang reservation on driver %s: %w", klog.KObj(pod), err))
	}
	return nil
}

func ptrTo(s string) *string { return &s }

// setGangAnnotation sets (value != nil) or removes the gang annotation.
func (p *SparkGang) setGangAnnotation(ctx context.Context, namespace, name string, value *string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]*string{gang.AnnotationGang: value}}})
	if err != nil {
		return err
	}
	_, err = p.handle.ClientSet().CoreV1().Pods(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// PostBind records a driver's gang wait and tells what was reserved; for
// an executor it confirms its slot (taken in Reserve already, unless the
// scheduler restarted in between).
func (p *SparkGang) PostBind(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodeName string) {
	cd, err := readCycle(state)
	if err != nil {
		return
	}
	switch cd.role {
	case spark.RoleDriver:
		p.metrics.gangWait.WithLabelValues(cd.queue).Observe(p.now().Sub(cd.created).Seconds())
		if v, err := state.Read(reservedKey); err == nil {
			rd := v.(*reservedData)
			if rd.slots > 0 {
				p.event(pod, corev1.EventTypeNormal, "GangReserved", "Reserve", "%s; the executor slots are held until %s",
					rd.reasons[0], rd.expires.Format(time.RFC3339))
			} else {
				p.event(pod, corev1.EventTypeNormal, "GangReserved", "Reserve", "%s", rd.reasons[0])
			}
		}
		p.kick(false)
	case spark.RoleExecutor:
		p.mu.Lock()
		took, complete := p.ledger.Consume(cd.app, pod.Name, nodeName)
		var driver *corev1.Pod
		if a := p.apps.apps[cd.app]; a != nil {
			driver = a.driver
		}
		p.mu.Unlock()
		if took {
			klog.FromContext(ctx).V(4).Info("Executor took a reserved slot", "pod", klog.KObj(pod), "app", cd.app, "node", nodeName)
		}
		if complete {
			p.gangComplete(cd.app, driver)
		}
	}
}
