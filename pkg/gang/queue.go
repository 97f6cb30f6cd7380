package gang

import (
	"fmt"
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// LabelQueue is the pod label that names an app's queue; without it the
// queue is the namespace. Set it with spark.kubernetes.driver.label.sparkplane.io/queue.
const LabelQueue = "sparkplane.io/queue"

// QueueOf is the queue of a pod: the value of label (LabelQueue if empty),
// else its namespace.
func QueueOf(pod *corev1.Pod, label string) string {
	if label == "" {
		label = LabelQueue
	}
	if q := pod.Labels[label]; q != "" {
		return q
	}
	return pod.Namespace
}

// Queue is a queue's limits.
type Queue struct {
	Name string
	// MaxCPU and MaxMemory cap what the queue's apps hold together (drivers,
	// executors, reserved slots); zero means no cap.
	MaxCPU, MaxMemory resource.Quantity
	// MaxDriverShare is the largest fraction of the queue maximum drivers
	// may hold together, as YARN's maxAMShare; 0 means no cap. It keeps a
	// burst of drivers from taking the room their executors need.
	MaxDriverShare float64
}

// Validate checks the limits.
func (q Queue) Validate() error {
	switch {
	case q.MaxCPU.Sign() < 0 || q.MaxMemory.Sign() < 0 || tooLarge(q.MaxCPU) || tooLarge(q.MaxMemory):
		return fmt.Errorf("queue %s: maxCPU and maxMemory must be between 0 (no cap) and 1Pi", q.Name)
	case math.IsNaN(q.MaxDriverShare) || q.MaxDriverShare < 0 || q.MaxDriverShare > 1:
		return fmt.Errorf("queue %s: maxDriverShare %v must be between 0 (no cap) and 1", q.Name, q.MaxDriverShare)
	}
	return nil
}

// limit is the maximum and which of its dimensions are capped.
func (q Queue) limit() (max Resources, cpu, mem bool) {
	return Resources{q.MaxCPU.MilliValue(), q.MaxMemory.Value()}, !q.MaxCPU.IsZero(), !q.MaxMemory.IsZero()
}

// App is an app asking to start.
type App struct {
	Key AppKey
	// Created orders the queue (the driver pod's creation time, which
	// survives restarts).
	Created time.Time
	Driver  Resources
	// Executors is what the minimum executors request together.
	Executors Resources
}

// App is the shape as a queue sees it.
func (s Shape) App(key AppKey, created time.Time) App {
	return App{Key: key, Created: created, Driver: s.Driver, Executors: s.Executor.Times(s.MinExecutors)}
}

// Gang is what the app needs to start.
func (a App) Gang() Resources { return a.Driver.Add(a.Executors) }

// AppUsage is what a running app holds.
type AppUsage struct {
	App    AppKey
	Driver Resources
	// Executors is its executors' requests plus its reserved slots.
	Executors Resources
}

// QueueState is a queue's apps: running (driver admitted) and waiting
// (drivers not admitted yet, in any order).
type QueueState struct {
	Running []AppUsage
	Waiting []App
}

func (st QueueState) usage() (all, drivers Resources) {
	for _, r := range st.Running {
		all = all.Add(r.Driver).Add(r.Executors)
		drivers = drivers.Add(r.Driver)
	}
	return all, drivers
}

// Outcome is a decision's kind; it doubles as a metrics label.
type Outcome string

const (
	// OutcomeAdmit: the app may start (or the executor may be placed).
	OutcomeAdmit Outcome = "admit"
	// OutcomeWaitQuota: the queue maximum would be exceeded.
	OutcomeWaitQuota Outcome = "wait-quota"
	// OutcomeWaitDriverShare: drivers would hold more than MaxDriverShare.
	OutcomeWaitDriverShare Outcome = "wait-driver-share"
	// OutcomeWaitFIFO: an older app of the queue is still waiting.
	OutcomeWaitFIFO Outcome = "wait-fifo"
	// OutcomeNoFit: admitted by its queue, but the gang fits in no zone.
	OutcomeNoFit Outcome = "no-fit"
)

// Unschedulable reports whether the adapter should let the pod be marked
// PodScheduled=False with reason Unschedulable, which is what Karpenter and
// cluster-autoscaler scale up for. Only a gang that fits nowhere is: a
// queue wait is a policy, and more nodes would not help, so the adapter
// keeps those drivers out of the scheduling cycle (a PreEnqueue plugin or a
// scheduling gate) instead of failing them in PreFilter.
func (o Outcome) Unschedulable() bool { return o == OutcomeNoFit }

// Decision is what Admit decided, and why.
type Decision struct {
	Outcome Outcome
	Reasons Reasons
	// Passed are the older waiting apps an admitted app overtook through the
	// head-of-line escape.
	Passed []AppKey
}

// Admit decides whether app may start in queue q, in this order: the
// queue maximum (usage + driver + minimum executors), the driver share,
// then FIFO (no older app of the queue may still be waiting).
//
// Head-of-line escape: once the oldest waiting app has waited longer than
// pol.HeadOfLineWait, younger apps that fit the maximum and driver share
// may pass it. Strict FIFO (HeadOfLineWait 0) never starves a large app
// but leaves room idle, possibly for long, behind an app that does not fit
// yet (or fits nowhere); the escape uses that room, at the cost that a
// steady stream of smaller apps can keep a large head waiting
// indefinitely. Apps whose gang alone exceeds the queue maximum can never
// start and never block others.
func Admit(q Queue, st QueueState, app App, now time.Time, pol Policy) Decision {
	for _, r := range st.Running {
		if r.App == app.Key {
			return Decision{Outcome: OutcomeAdmit, Reasons: Reasons{fmt.Sprintf("app %s already runs in queue %s", app.Key, q.Name)}}
		}
	}
	limit, capCPU, capMem := q.limit()
	used, drivers := st.usage()
	gang := app.Gang()

	if never := exceeds(gang, limit, capCPU, capMem); len(never) > 0 {
		return Decision{Outcome: OutcomeWaitQuota, Reasons: Reasons{fmt.Sprintf(
			"app %s can never start in queue %s: its gang (driver and minimum executors) needs %s, above the queue maximum of %s",
			app.Key, q.Name, dims(gang, never), dims(limit, never))}}
	}
	if over := exceeds(used.Add(gang), limit, capCPU, capMem); len(over) > 0 {
		return Decision{Outcome: OutcomeWaitQuota, Reasons: Reasons{fmt.Sprintf(
			"queue %s has %s free of its maximum %s; the gang of app %s needs %s",
			q.Name, dims(limit.Sub(used), over), dims(limit, over), app.Key, dims(gang, over))}}
	}
	if q.MaxDriverShare > 0 {
		share := Resources{int64(float64(limit.MilliCPU) * q.MaxDriverShare), int64(float64(limit.Memory) * q.MaxDriverShare)}
		after := drivers.Add(app.Driver)
		if over := exceeds(after, share, capCPU, capMem); len(over) > 0 {
			if len(st.Running) > 0 {
				return Decision{Outcome: OutcomeWaitDriverShare, Reasons: Reasons{fmt.Sprintf(
					"drivers in queue %s would hold %s, above their share (%g) of the maximum, %s",
					q.Name, dims(after, over), q.MaxDriverShare, dims(share, over))}}
			}
			// As YARN's CapacityScheduler does: a share too small for one
			// driver must not keep the queue empty forever.
		}
	}

	older := olderWaiting(q, st, app)
	if len(older) == 0 {
		return Decision{Outcome: OutcomeAdmit, Reasons: Reasons{fmt.Sprintf("app %s admitted to queue %s: with it %s is in use, %s",
			app.Key, q.Name, used.Add(gang), maxString(limit, capCPU, capMem))}}
	}
	head := older[0]
	waited := now.Sub(head.Created)
	if pol.HeadOfLineWait <= 0 || waited <= pol.HeadOfLineWait {
		return Decision{Outcome: OutcomeWaitFIFO, Reasons: Reasons{fmt.Sprintf(
			"app %s waits behind %d older app(s) in queue %s, first %s (waiting %s)",
			app.Key, len(older), q.Name, head.Key, waited.Round(time.Second))}}
	}
	d := Decision{Outcome: OutcomeAdmit, Reasons: Reasons{fmt.Sprintf(
		"app %s admitted to queue %s ahead of %d older app(s): the first, %s, has waited %s, longer than the head-of-line wait of %s",
		app.Key, q.Name, len(older), head.Key, waited.Round(time.Second), pol.HeadOfLineWait)}}
	for _, o := range older {
		d.Passed = append(d.Passed, o.Key)
	}
	return d
}

// AdmitExecutor decides whether an executor beyond the gang minimum may be
// placed: dynamic allocation must not take a queue past its maximum.
func AdmitExecutor(q Queue, st QueueState, req Resources) Decision {
	limit, capCPU, capMem := q.limit()
	used, _ := st.usage()
	if over := exceeds(used.Add(req), limit, capCPU, capMem); len(over) > 0 {
		return Decision{Outcome: OutcomeWaitQuota, Reasons: Reasons{fmt.Sprintf(
			"queue %s has %s free of its maximum %s; the executor needs %s",
			q.Name, dims(limit.Sub(used), over), dims(limit, over), dims(req, over))}}
	}
	return Decision{Outcome: OutcomeAdmit}
}

// olderWaiting are the waiting apps ahead of app (by creation, then key)
// that could ever start in the queue.
func olderWaiting(q Queue, st QueueState, app App) []App {
	limit, capCPU, capMem := q.limit()
	var out []App
	for _, w := range st.Waiting {
		if w.Key != app.Key && ahead(w, app) && len(exceeds(w.Gang(), limit, capCPU, capMem)) == 0 {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return ahead(out[i], out[j]) })
	return out
}

func ahead(a, b App) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	return a.Key < b.Key
}

type dim int

const (
	dimCPU dim = iota
	dimMemory
)

// exceeds lists the capped dimensions in which r is above limit.
func exceeds(r, limit Resources, capCPU, capMem bool) []dim {
	var out []dim
	if capCPU && r.MilliCPU > limit.MilliCPU {
		out = append(out, dimCPU)
	}
	if capMem && r.Memory > limit.Memory {
		out = append(out, dimMemory)
	}
	return out
}

// dims shows r in the given dimensions only, as in "2 cpu, 10Gi".
func dims(r Resources, ds []dim) string {
	s := ""
	for _, d := range ds {
		if s != "" {
			s += ", "
		}
		if d == dimCPU {
			s += cpuString(max(r.MilliCPU, 0))
		} else {
			s += memString(max(r.Memory, 0))
		}
	}
	return s
}

func maxString(limit Resources, capCPU, capMem bool) string {
	var ds []dim
	if capCPU {
		ds = append(ds, dimCPU)
	}
	if capMem {
		ds = append(ds, dimMemory)
	}
	if len(ds) == 0 {
		return "no maximum"
	}
	return "the maximum " + dims(limit, ds)
}

// QueueStatus is a queue at a glance, for `sparkplane queues` and metrics.
type QueueStatus struct {
	Name string
	// Used is what running apps hold, Drivers the drivers' part of it.
	Used, Drivers    Resources
	Running, Waiting int
	// Head is the oldest waiting app and HeadWait how long it has waited.
	Head     AppKey
	HeadWait time.Duration
}

// Status summarizes a queue's state.
func Status(q Queue, st QueueState, now time.Time) QueueStatus {
	s := QueueStatus{Name: q.Name, Running: len(st.Running), Waiting: len(st.Waiting)}
	s.Used, s.Drivers = st.usage()
	var head *App
	for i := range st.Waiting {
		if head == nil || ahead(st.Waiting[i], *head) {
			head = &st.Waiting[i]
		}
	}
	if head != nil {
		s.Head, s.HeadWait = head.Key, now.Sub(head.Created)
	}
	return s
}
