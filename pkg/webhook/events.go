package webhook

import (
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

// Event reasons the admission handler records (type Warning).
const (
	// ReasonInvalidAnnotation: an executor was admitted without an invalid
	// sparkplane annotation (its own or its driver's). On the executor and
	// on its driver.
	ReasonInvalidAnnotation = "InvalidAnnotation"
	// ReasonInvalidPatch: a Spark pod was admitted unchanged because
	// sparkplane's patch would have made it invalid (a configuration that
	// writes what the API server rejects). On the pod.
	ReasonInvalidPatch = "InvalidPatch"
)

// Notifier records events about admitted pods without an API call on the
// admission path.
type Notifier interface {
	// Admitted records a Warning event on the pod being admitted, once it
	// exists: at admission it has no UID yet, and `kubectl describe` finds
	// events by UID.
	Admitted(namespace, name, reason, message string)
	// Existing records a Warning event on a Spark pod the cache holds (an
	// executor's driver); nothing if the cache does not hold it.
	Existing(namespace, name, reason, message string)
}

// Bounds of the events waiting for their pod.
const (
	// pendingEventTTL is how long an event waits for its pod to appear in
	// the informer cache: milliseconds normally; a pod that a later webhook
	// or the API server's validation rejected never appears.
	pendingEventTTL = 2 * time.Minute
	// maxPendingPods bounds the pods with waiting events; beyond it new
	// events are dropped (and logged) rather than grow memory.
	maxPendingPods = 10000
)

// PodEvents implements Notifier with an event recorder (an asynchronous
// broadcaster: recording never blocks an admission) and the webhook's Spark
// pod cache. Events for pods being admitted wait, keyed by namespace/name,
// until the pod informer delivers the pod (OnAdd), at most pendingEventTTL.
type PodEvents struct {
	recorder record.EventRecorder
	pod      func(key string) (*corev1.Pod, bool)
	log      logr.Logger
	now      func() time.Time

	mu        sync.Mutex
	pending   map[string][]pendingEvent
	lastSweep time.Time
}

type pendingEvent struct {
	reason, message string
	at              time.Time
}

// NewPodEvents records with recorder; pod looks a cached pod up by its
// namespace/name key.
func NewPodEvents(recorder record.EventRecorder, pod func(key string) (*corev1.Pod, bool), log logr.Logger) *PodEvents {
	return &PodEvents{recorder: recorder, pod: pod, log: log, now: time.Now, pending: map[string][]pendingEvent{}}
}

var _ Notifier = &PodEvents{}

// Admitted queues the event until the pod exists. Repeats (a reinvoked
// webhook decides twice) are queued once.
func (e *PodEvents) Admitted(namespace, name, reason, message string) {
	if name == "" {
		return // no name to find the pod by
	}
	key := namespace + "/" + name
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.pending) >= maxPendingPods || now.Sub(e.lastSweep) > pendingEventTTL {
		e.sweep(now)
	}
	if _, ok := e.pending[key]; !ok && len(e.pending) >= maxPendingPods {
		e.log.Info("Too many events waiting for their pods; dropping one", "pod", key, "reason", reason, "message", message)
		return
	}
	for _, p := range e.pending[key] {
		if p.reason == reason && p.message == message {
			return
		}
	}
	e.pending[key] = append(e.pending[key], pendingEvent{reason: reason, message: message, at: now})
}

// sweep drops expired events; e.mu is held.
func (e *PodEvents) sweep(now time.Time) {
	e.lastSweep = now
	for key, evs := range e.pending {
		if now.Sub(evs[len(evs)-1].at) > pendingEventTTL {
			delete(e.pending, key)
		}
	}
}

// Existing records the event now, on the cached pod.
func (e *PodEvents) Existing(namespace, name, reason, message string) {
	if p, ok := e.pod(namespace + "/" + name); ok {
		e.recorder.Event(p, corev1.EventTypeWarning, reason, message)
	}
}

// OnAdd is the pod informer's add handler: it records the events waiting
// for the pod.
func (e *PodEvents) OnAdd(obj any, _ bool) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key := p.Namespace + "/" + p.Name
	e.mu.Lock()
	evs, ok := e.pending[key]
	delete(e.pending, key)
	e.mu.Unlock()
	if !ok {
		return
	}
	now := e.now()
	for _, ev := range evs {
		if now.Sub(ev.at) <= pendingEventTTL {
			e.recorder.Event(p, corev1.EventTypeWarning, ev.reason, ev.message)
		}
	}
}

// OnUpdate and OnDelete complete toolscache.ResourceEventHandler.
func (e *PodEvents) OnUpdate(_, _ any) {}
func (e *PodEvents) OnDelete(any)      {}

// Pending is the number of pods with events waiting for them.
func (e *PodEvents) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pending)
}
