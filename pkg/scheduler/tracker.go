package scheduler

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// app is one Spark application as the plugin knows it from the pods in
// the informer cache and its own scheduling decisions.
type app struct {
	key   gang.AppKey
	queue string
	// driver is the driver pod as last seen; nil when there is none (client
	// mode) or it has ended.
	driver    *corev1.Pod
	driverReq gang.Resources
	// seq orders apps first seen in the same second (creation timestamps
	// have second precision): the informer delivers creations in order.
	seq       uint64
	executors map[types.UID]*executor
	// reserved: the driver passed Reserve (its gang is held) and was not
	// unreserved since; with a bound driver the app runs.
	reserved bool
	// claimed: PreEnqueue admitted the driver to its queue and its
	// scheduling cycle has not ended yet. The claim counts against the
	// queue, so two drivers are never admitted on the same room.
	claimed time.Time
	shape   shapeInfo
}

type executor struct {
	pod *corev1.Pod
	req gang.Resources
	// assumed is the node chosen in Reserve, until the pod is seen bound or
	// is unreserved.
	assumed string
}

func (e *executor) node() string {
	if e.pod.Spec.NodeName != "" {
		return e.pod.Spec.NodeName
	}
	return e.assumed
}

// running reports whether the app holds room: its driver is reserved or
// bound, or (no driver pod) some executor is placed.
func (a *app) running() bool {
	if a.driver != nil {
		return a.reserved || a.driver.Spec.NodeName != ""
	}
	for _, e := range a.executors {
		if e.node() != "" {
			return true
		}
	}
	return false
}

// pending reports whether the app's driver waits to be scheduled.
func (a *app) pending() bool { return a.driver != nil && !a.running() }

// placedExecutors is what its placed executors request together.
func (a *app) placedExecutors() gang.Resources {
	var r gang.Resources
	for _, e := range a.executors {
		if e.node() != "" {
			r = r.Add(e.req)
		}
	}
	return r
}

// created orders the queue: the driver's creation time, with apps created
// in the same second in the order they were first seen.
func (a *app) created() time.Time {
	if a.driver == nil {
		return time.Time{}
	}
	// Under a millisecond, so reported waits (rounded) are not skewed.
	return a.driver.CreationTimestamp.Time.Add(time.Duration(a.seq % uint64(time.Millisecond)))
}

// tracker indexes the Spark pods of the informer cache by app. It is
// guarded by the plugin's lock.
type tracker struct {
	queueLabel string
	// schedulerName, when set, limits the apps to those whose driver names
	// this scheduler (their executors are tracked whatever scheduler they
	// name); pods of other schedulers are not in its queues.
	schedulerName string
	apps          map[gang.AppKey]*app
	byQueue       map[string]map[gang.AppKey]*app
	pods          map[types.UID]gang.AppKey
	// drivers maps "namespace/name" of driver pods to their app, to link
	// executors by their ownerReference (client-mode drivers without a
	// spark-app-selector are keyed by name, their executors by selector).
	drivers map[string]gang.AppKey
	// confMaps maps "namespace/name" of drivers' conf ConfigMaps to their app.
	confMaps map[string]gang.AppKey
	seq      uint64
}

func newTracker(queueLabel, schedulerName string) *tracker {
	return &tracker{
		queueLabel:    queueLabel,
		schedulerName: schedulerName,
		apps:          map[gang.AppKey]*app{},
		byQueue:       map[string]map[gang.AppKey]*app{},
		pods:          map[types.UID]gang.AppKey{},
		drivers:       map[string]gang.AppKey{},
		confMaps:      map[string]gang.AppKey{},
	}
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// executorKey is the app of an executor: its driver's app when its
// ownerReference names a known driver pod, else its spark-app-selector.
func (t *tracker) executorKey(pod *corev1.Pod) gang.AppKey {
	if ref := spark.DriverOwner(pod); ref != nil {
		if k, ok := t.drivers[pod.Namespace+"/"+ref.Name]; ok {
			return k
		}
	}
	return gang.AppKeyOf(pod)
}

// keyOf is the app of a driver or executor pod.
func (t *tracker) keyOf(pod *corev1.Pod) gang.AppKey {
	if spark.RoleOf(pod) == spark.RoleDriver {
		return gang.AppKeyOf(pod)
	}
	return t.executorKey(pod)
}

func (t *tracker) app(key gang.AppKey, queue string) *app {
	a := t.apps[key]
	if a == nil {
		t.seq++
		a = &app{key: key, queue: queue, seq: t.seq, executors: map[types.UID]*executor{}}
		t.apps[key] = a
		t.setQueue(a, queue)
	}
	return a
}

func (t *tracker) setQueue(a *app, queue string) {
	if q := t.byQueue[a.queue]; q != nil && a.queue != queue {
		delete(q, a.key)
		if len(q) == 0 {
			delete(t.byQueue, a.queue)
		}
	}
	a.queue = queue
	q := t.byQueue[queue]
	if q == nil {
		q = map[gang.AppKey]*app{}
		t.byQueue[queue] = q
	}
	q[a.key] = a
}

// observe records a driver or executor pod as seen now and returns its
// app; nil for other pods and for terminal ones (which it forgets).
func (t *tracker) observe(pod *corev1.Pod) *app {
	role := spark.RoleOf(pod)
	if role != spark.RoleDriver && role != spark.RoleExecutor {
		return nil
	}
	if terminal(pod) || pod.DeletionTimestamp != nil && pod.Spec.NodeName == "" {
		t.forget(pod)
		return nil
	}
	key := t.keyOf(pod)
	if t.schedulerName != "" && pod.Spec.SchedulerName != t.schedulerName {
		if a := t.apps[key]; role == spark.RoleDriver || a == nil || a.driver == nil {
			return nil
		}
	}
	if old, ok := t.pods[pod.UID]; ok && old != key {
		t.forget(pod) // an executor linked to its driver only now
	}
	t.pods[pod.UID] = key
	if role == spark.RoleDriver {
		queue := gang.QueueOf(pod, t.queueLabel)
		a := t.app(key, queue)
		if a.queue != queue {
			t.setQueue(a, queue)
		}
		if a.driver == nil || a.driver.UID != pod.UID || a.driver.ResourceVersion != pod.ResourceVersion {
			if a.driver != nil && a.driver.UID != pod.UID {
				// A new driver pod for the same app id: what was decided
				// for the old one does not carry over.
				a.reserved, a.claimed = false, time.Time{}
			}
			a.driver = pod
			a.driverReq = gang.PodRequests(pod)
		}
		t.drivers[pod.Namespace+"/"+pod.Name] = key
		if cm, ok := gang.PropertiesConfigMap(pod); ok {
			t.confMaps[pod.Namespace+"/"+cm] = key
		}
		return a
	}
	queue := gang.QueueOf(pod, t.queueLabel)
	if a := t.apps[key]; a != nil && a.driver != nil {
		queue = a.queue
	}
	a := t.app(key, queue)
	e := a.executors[pod.UID]
	if e == nil {
		e = &executor{req: gang.PodRequests(pod)}
		a.executors[pod.UID] = e
	}
	e.pod = pod
	if pod.Spec.NodeName != "" {
		e.assumed = ""
	}
	return a
}

// forget drops a pod (deleted or terminal) and returns its app, which is
// dropped too once it has no pods left, and whether the pod was its driver.
func (t *tracker) forget(pod *corev1.Pod) (*app, bool) {
	key, ok := t.pods[pod.UID]
	if !ok {
		return nil, false
	}
	delete(t.pods, pod.UID)
	a := t.apps[key]
	if a == nil {
		return nil, false
	}
	wasDriver := false
	if a.driver != nil && a.driver.UID == pod.UID {
		wasDriver = true
		delete(t.drivers, pod.Namespace+"/"+pod.Name)
		if cm, ok := gang.PropertiesConfigMap(a.driver); ok {
			delete(t.confMaps, pod.Namespace+"/"+cm)
		}
		a.driver, a.driverReq = nil, gang.Resources{}
		a.reserved, a.claimed = false, time.Time{}
		a.shape = shapeInfo{}
	}
	delete(a.executors, pod.UID)
	if a.driver == nil && len(a.executors) == 0 {
		delete(t.apps, key)
		if q := t.byQueue[a.queue]; q != nil {
			delete(q, key)
			if len(q) == 0 {
				delete(t.byQueue, a.queue)
			}
		}
	}
	return a, wasDriver
}

// queues lists the queues that have apps, sorted.
func (t *tracker) queues() []string {
	out := make([]string, 0, len(t.byQueue))
	for q := range t.byQueue {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// observeIfNew records a pod not seen yet (the scheduling queue may hand a
// pod over before the plugin's informer handler has seen it) and returns
// its app; a known pod is left as the informer last reported it.
func (t *tracker) observeIfNew(pod *corev1.Pod) *app {
	if key, ok := t.pods[pod.UID]; ok {
		return t.apps[key]
	}
	return t.observe(pod)
}
