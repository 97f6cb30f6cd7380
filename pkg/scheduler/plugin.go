package scheduler

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// PluginName is the name of the plugin in a KubeSchedulerConfiguration.
const PluginName = "SparkGang"

// SparkGang is the sparkplane scheduler plugin: gang scheduling of a Spark
// driver with its minimum executors in one zone, FIFO queues with a
// maximum and a driver share, and executors steered into the room held for
// them. Every decision is made by pkg/gang; this type adapts the
// kube-scheduler framework to it.
//
// One lock (mu) guards the app index, the reservation ledger and the
// waiting pods, and is held across snapshot, Fit and Reserve, which is what
// keeps a reservation from being given away twice. Lock order: the
// scheduling queue's lock (held when the framework calls PreEnqueue and
// queueing hints) before mu; mu is never held while calling into the
// framework (Activate) or the API server.
type SparkGang struct {
	handle  fwk.Handle
	args    *SparkGangArgs
	policy  gang.Policy
	metrics *Metrics
	logger  logr.Logger

	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	cmLister   corelisters.ConfigMapLister

	mu     sync.Mutex
	ready  bool
	ledger *gang.Ledger
	apps   *tracker
	// gated are the pods PreEnqueue keeps out of the scheduling queue, with
	// why; noFit are drivers whose gang fit nowhere at their last attempt.
	gated map[types.UID]gateInfo
	noFit map[types.UID]*corev1.Pod
	// told is the last wait reported per pod, so events are not repeated.
	told map[types.UID]string
	// zones indexes the snapshot's nodes by zone for pinned executors.
	zones zoneIndex

	kickCh    chan struct{}
	wakeNoFit atomic.Bool
	annotate  workqueue.TypedRateLimitingInterface[string]
	now       func() time.Time
}

type gateInfo struct {
	pod     *corev1.Pod
	outcome string
}

var (
	_ fwk.PreEnqueuePlugin  = &SparkGang{}
	_ fwk.EnqueueExtensions = &SparkGang{}
	_ fwk.PreFilterPlugin   = &SparkGang{}
	_ fwk.FilterPlugin      = &SparkGang{}
	_ fwk.PostFilterPlugin  = &SparkGang{}
	_ fwk.PreScorePlugin    = &SparkGang{}
	_ fwk.ScorePlugin       = &SparkGang{}
	_ fwk.ReservePlugin     = &SparkGang{}
	_ fwk.PreBindPlugin     = &SparkGang{}
	_ fwk.PostBindPlugin    = &SparkGang{}
)

// Name implements fwk.Plugin.
func (p *SparkGang) Name() string { return PluginName }

// New builds the plugin. It is the framework's plugin factory with the
// metrics bound in (see NewRegistry); m may be nil for metrics nobody
// exposes. The plugin's goroutines (rebuild, expiry, re-admission,
// annotation cleanup) end with ctx, the scheduler's context.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle, m *Metrics) (*SparkGang, error) {
	args, err := DecodeArgs(obj)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics()
	}
	informers := h.SharedInformerFactory()
	podInf := informers.Core().V1().Pods()
	nodeInf := informers.Core().V1().Nodes()
	cmInf := informers.Core().V1().ConfigMaps()
	p := &SparkGang{
		handle:     h,
		args:       args,
		policy:     args.Policy(),
		metrics:    m,
		logger:     klog.FromContext(ctx).WithName(PluginName),
		podLister:  podInf.Lister(),
		nodeLister: nodeInf.Lister(),
		cmLister:   cmInf.Lister(),
		ledger:     gang.NewLedger(),
		apps:       newTracker(args.QueueLabel, h.ProfileName()),
		gated:      map[types.UID]gateInfo{},
		noFit:      map[types.UID]*corev1.Pod{},
		told:       map[types.UID]string{},
		kickCh:     make(chan struct{}, 1),
		annotate: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "sparkplane-gang-annotations"}),
		now: time.Now,
	}
	podReg, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onPod,
		UpdateFunc: func(_, obj any) { p.onPod(obj) },
		DeleteFunc: p.onPodDelete,
	})
	if err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	cmReg, err := cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onConfigMap,
		UpdateFunc: func(_, obj any) { p.onConfigMap(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching ConfigMaps: %w", err)
	}
	m.state.setSource(p.stateSnapshot)

	synced := []cache.InformerSynced{podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, cmInf.Informer().HasSynced, podReg.HasSynced, cmReg.HasSynced}
	go p.run(ctx, synced)
	return p, nil
}

// run rebuilds the ledger once the caches are synced, then runs the
// background loops until ctx ends.
func (p *SparkGang) run(ctx context.Context, synced []cache.InformerSynced) {
	defer p.annotate.ShutDown()
	go p.kickLoop(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	p.rebuild()
	go p.annotateLoop(ctx)
	t := time.NewTicker(p.args.ResyncInterval.Duration)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.resync()
		}
	}
}

// rebuild recovers the reservations from the API state (the gang
// annotation of bound drivers, minus the executors bound since), then
// lets the pods gated meanwhile in.
func (p *SparkGang) rebuild() {
	pods, err := p.podLister.List(labels.Everything())
	if err != nil {
		p.logger.Error(err, "Listing pods to rebuild reservations")
	}
	p.mu.Lock()
	ledger, errs, sparkPods := rebuildLedger(pods, p.apps)
	p.ledger = ledger
	for _, h := range ledger.All() {
		if a := p.apps.apps[h.App]; a != nil {
			a.reserved = true
		}
	}
	held := ledger.All()
	p.ready = true
	p.mu.Unlock()

	for _, err := range errs {
		p.logger.Error(err, "Ignoring an invalid gang reservation")
	}
	slots := 0
	for _, h := range held {
		slots += sumSlots(h.Remaining)
	}
	p.logger.Info("Rebuilt gang reservations from the API server", "reservations", len(held), "heldSlots", slots, "sparkPods", sparkPods)
	p.resync()
	p.kick(true)
}

// rebuildLedger recovers the reservations from pods: the gang annotation
// of bound drivers, minus the executors bound since. t must have observed
// the pods (it links executors to client-mode drivers).
func rebuildLedger(pods []*corev1.Pod, t *tracker) (*gang.Ledger, []error, int) {
	var drivers, executors []*corev1.Pod
	for _, pod := range pods {
		switch spark.RoleOf(pod) {
		case spark.RoleDriver:
			// Only bound drivers hold a reservation: an annotation on a
			// pending driver is left from a binding that failed.
			if pod.Spec.NodeName != "" {
				drivers = append(drivers, pod)
			}
		case spark.RoleExecutor:
			executors = append(executors, pod)
		}
	}
	ledger, errs := gang.Rebuild(drivers, nil)
	// Executors are consumed here rather than by Rebuild so that they are
	// keyed as the live plugin keys them (linked to client-mode drivers).
	sort.Slice(executors, func(i, j int) bool { return executors[i].Name < executors[j].Name })
	for _, e := range executors {
		if gang.TakesSlot(e) {
			ledger.Consume(t.executorKey(e), e.Name, e.Spec.NodeName)
		}
	}
	return ledger, errs, len(drivers) + len(executors)
}

func sumSlots(m map[string]int) int {
	n := 0
	for _, k := range m {
		n += k
	}
	return n
}

// resync expires reservations, drops stale claims and re-checks waiting
// pods (the head-of-line wait and the conf wait pass with time).
func (p *SparkGang) resync() {
	now := p.now()
	p.mu.Lock()
	type expiry struct {
		h      gang.Held
		driver *corev1.Pod
	}
	var expired []expiry
	for _, h := range p.ledger.Expire(now) {
		e := expiry{h: h}
		if a := p.apps.apps[h.App]; a != nil {
			e.driver = a.driver
		}
		expired = append(expired, e)
	}
	for _, a := range p.apps.apps {
		if !a.claimed.IsZero() && now.Sub(a.claimed) > claimTTL {
			a.claimed = time.Time{}
		}
	}
	p.mu.Unlock()

	p.metrics.reservation(eventExpired, len(expired))
	for _, e := range expired {
		left := sumSlots(e.h.Remaining)
		p.logger.Info("Gang reservation expired", "app", e.h.App, "unusedSlots", left, "timeout", p.args.ReservationTimeout.Duration)
		if e.driver != nil {
			p.event(e.driver, corev1.EventTypeWarning, "GangReservationExpired", "Expire",
				"%d of %d executor slots held for this app were not taken within %s and are released; later executors are placed where there is room",
				left, e.h.Size(), p.args.ReservationTimeout.Duration)
			p.annotate.Add(e.driver.Namespace + "/" + e.driver.Name)
		}
	}
	p.kick(len(expired) > 0)
}

// claimTTL bounds how long a driver admitted by PreEnqueue counts against
// its queue before its scheduling cycle ends; only a cycle that ended in
// an error path the plugin does not see leaves a claim that long.
const claimTTL = 30 * time.Second

// kickDebounce lets the scheduler's own cache catch up with the event
// that caused a kick before the pods it wakes are scheduled.
const kickDebounce = 50 * time.Millisecond

// kick asks the kick loop to let in the gated pods that would now be
// admitted and, with wakeNoFit, to retry the drivers whose gang did not
// fit (room was freed).
func (p *SparkGang) kick(wakeNoFit bool) {
	if wakeNoFit {
		p.wakeNoFit.Store(true)
	}
	select {
	case p.kickCh <- struct{}{}:
	default:
	}
}

func (p *SparkGang) kickLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kickCh:
		}
		// Room freed by a pod that ended shows in the scheduler's cache a
		// moment after the event: wait for it. A queue that moved (a gang
		// reserved, which the ledger already shows) needs no wait.
		if p.wakeNoFit.Load() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(kickDebounce):
			}
		}
		if pods := p.toActivate(); len(pods) > 0 {
			p.handle.Activate(p.logger, pods)
		}
	}
}

// toActivate are the gated pods that PreEnqueue would now let in, and the
// no-fit drivers when room was freed.
func (p *SparkGang) toActivate() map[string]*corev1.Pod {
	now := p.now()
	wake := p.wakeNoFit.Swap(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]*corev1.Pod{}
	for uid, g := range p.gated {
		if p.decide(g.pod, now).admit {
			out[string(uid)] = g.pod
		}
	}
	if wake {
		for uid, pod := range p.noFit {
			out[string(uid)] = pod
		}
	}
	return out
}

// onPod tracks a pod added or updated in the informer cache.
func (p *SparkGang) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	role := spark.RoleOf(pod)
	if role != spark.RoleDriver && role != spark.RoleExecutor {
		return
	}
	if terminal(pod) {
		p.onPodDelete(pod)
		return
	}
	var complete bool
	var a *app
	p.mu.Lock()
	a = p.apps.observe(pod)
	if a != nil && p.ready && gang.TakesSlot(pod) {
		_, complete = p.ledger.Consume(a.key, pod.Name, pod.Spec.NodeName)
	}
	var driver *corev1.Pod
	if a != nil {
		driver = a.driver
	}
	p.mu.Unlock()
	if complete {
		p.gangComplete(a.key, driver)
	}
}

// onPodDelete forgets a deleted (or, through the scheduler's informer,
// finished) pod: a driver's reservation is released, and what the pod
// held in its queue is free for waiting apps.
func (p *SparkGang) onPodDelete(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	p.mu.Lock()
	a, wasDriver := p.apps.forget(pod)
	released := false
	if a != nil && wasDriver {
		released = p.ledger.Release(a.key)
	}
	delete(p.gated, pod.UID)
	delete(p.noFit, pod.UID)
	delete(p.told, pod.UID)
	p.mu.Unlock()
	if released {
		p.metrics.reservation(eventReleased, 1)
		p.logger.V(2).Info("Driver ended: gang reservation released", "app", a.key, "driver", klog.KObj(pod))
	}
	if a != nil {
		p.kick(true)
	}
}

// onConfigMap lets in a driver that waited for its conf ConfigMap.
func (p *SparkGang) onConfigMap(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	p.mu.Lock()
	_, known := p.apps.confMaps[cm.Namespace+"/"+cm.Name]
	p.mu.Unlock()
	if known {
		p.kick(false)
	}
}

// gangComplete is called once every slot of an app's reservation is taken.
func (p *SparkGang) gangComplete(key gang.AppKey, driver *corev1.Pod) {
	p.metrics.reservation(eventCompleted, 1)
	p.logger.V(2).Info("Gang complete: every reserved executor slot is taken", "app", key)
	if driver != nil {
		p.event(driver, corev1.EventTypeNormal, "GangComplete", "Complete", "every executor slot reserved for the gang is taken; the reservation is done")
		p.annotate.Add(driver.Namespace + "/" + driver.Name)
	}
}

// event records an event on a pod, in plain words.
func (p *SparkGang) event(pod *corev1.Pod, typ, reason, action, note string, args ...any) {
	if r := p.handle.EventRecorder(); r != nil {
		r.Eventf(pod, nil, typ, reason, action, note, args...)
	}
}

// stateSnapshot is what the metrics report at scrape time.
func (p *SparkGang) stateSnapshot() stateSnapshot {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var s stateSnapshot
	for _, h := range p.ledger.All() {
		s.held++
		s.heldSlot += sumSlots(h.Remaining)
	}
	names := p.apps.queues()
	for _, q := range p.args.Queues {
		if _, ok := p.apps.byQueue[q.Name]; !ok {
			names = append(names, q.Name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		q := p.args.Queue(name)
		st := gang.Status(q, p.queueState(name, "", now), now)
		st.HeadWait = st.HeadWait.Round(time.Millisecond)
		s.queues = append(s.queues, queueMetrics{status: st, queue: q})
	}
	return s
}
