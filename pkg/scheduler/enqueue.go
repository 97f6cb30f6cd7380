package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// Outcomes of the adapter's own, beside gang.Outcome's (also metrics labels).
const (
	outcomeStarting = "wait-start"
	outcomeWaitConf = "wait-conf"
	outcomeReserved = "reserved"
)

// verdict is whether a pod may enter the scheduling queue now, and why.
type verdict struct {
	role    string
	outcome string
	reasons string
	admit   bool
	warning string
}

func admitted(role string) verdict {
	return verdict{role: role, outcome: string(gang.OutcomeAdmit), admit: true}
}

// appShape is the shape the gang of a with a driver is sized by. An
// invalid Spark conf does not keep the driver from running: it is
// scheduled alone, without a gang, and told so.
func (p *SparkGang) appShape(a *app, now time.Time) (shape gang.Shape, waitConf bool, warning string) {
	si := shapeOf(a, p.cmLister)
	switch {
	case si.err != nil:
		return gang.Shape{Driver: a.driverReq}, false, "the gang cannot be sized, so the driver is scheduled without reserving executors: " + si.err.Error()
	case si.waitingForConf(a, now, p.args.ConfWait.Duration):
		return si.shape, true, ""
	case si.confMissing != "":
		return si.shape, false, fmt.Sprintf("ConfigMap %s with the driver's spark.properties did not appear within %s: the gang is sized from Spark's defaults and the driver's annotations",
			si.confMissing, p.args.ConfWait.Duration)
	case len(si.warnings) > 0:
		return si.shape, false, strings.Join(si.warnings, "; ")
	}
	return si.shape, false, ""
}

// queueState is the queue as gang.Admit sees it, without app except.
// Running are apps holding room (driver reserved or bound) and drivers
// admitted whose scheduling cycle has not ended (claimed, counted with
// their whole gang); Waiting are the pending drivers, claimed ones too, so
// that a younger app never passes an older one still being placed.
func (p *SparkGang) queueState(queue string, except gang.AppKey, now time.Time) gang.QueueState {
	var st gang.QueueState
	for key, a := range p.apps.byQueue[queue] {
		if key == except {
			continue
		}
		switch {
		case a.running():
			u := gang.AppUsage{App: key, Driver: a.driverReq, Executors: a.placedExecutors()}
			if h, ok := p.ledger.Get(key); ok {
				u.Executors = u.Executors.Add(h.Room())
			}
			st.Running = append(st.Running, u)
		case a.pending():
			shape, _, _ := p.appShape(a, now)
			w := shape.App(key, a.created())
			if !a.claimed.IsZero() {
				st.Running = append(st.Running, gang.AppUsage{App: key, Driver: w.Driver, Executors: w.Executors})
			}
			st.Waiting = append(st.Waiting, w)
		}
	}
	return st
}

// decide is whether pod may be scheduled now. It changes nothing but the
// shape cache; call it with mu held.
func (p *SparkGang) decide(pod *corev1.Pod, now time.Time) verdict {
	role := spark.RoleOf(pod)
	if !p.ready {
		return verdict{role: string(role), outcome: outcomeStarting, reasons: "sparkplane is rebuilding its gang reservations from the API server"}
	}
	switch role {
	case spark.RoleDriver:
		a := p.apps.apps[gang.AppKeyOf(pod)]
		if a == nil || a.driver == nil || a.driver.UID != pod.UID {
			return admitted("driver")
		}
		return p.decideDriver(a, now)
	case spark.RoleExecutor:
		a := p.apps.apps[p.apps.executorKey(pod)]
		if a == nil || a.executors[pod.UID] == nil {
			return admitted("executor")
		}
		return p.decideExecutor(a, a.executors[pod.UID], now)
	}
	return admitted("")
}

func (p *SparkGang) decideDriver(a *app, now time.Time) verdict {
	shape, waitConf, warning := p.appShape(a, now)
	if waitConf {
		return verdict{role: "driver", outcome: outcomeWaitConf, reasons: fmt.Sprintf(
			"waiting for ConfigMap %s with the driver's spark.properties (spark-submit creates it just after the driver pod); after %s the gang is sized from Spark's defaults",
			a.shape.confMissing, p.args.ConfWait.Duration)}
	}
	d := gang.Admit(p.args.Queue(a.queue), p.queueState(a.queue, a.key, now), shape.App(a.key, a.created()), now, p.policy)
	return verdict{role: "driver", outcome: string(d.Outcome), reasons: d.Reasons.String(), admit: d.Outcome == gang.OutcomeAdmit, warning: warning}
}

func (p *SparkGang) decideExecutor(a *app, e *executor, now time.Time) verdict {
	if h, ok := p.ledger.Get(a.key); ok && len(h.Remaining) > 0 {
		v := admitted("executor")
		v.reasons = "a slot of its app's gang reservation is held for it"
		return v
	}
	d := gang.AdmitExecutor(p.args.Queue(a.queue), p.queueState(a.queue, "", now), e.req)
	v := verdict{role: "executor", outcome: string(d.Outcome), reasons: d.Reasons.String(), admit: d.Outcome == gang.OutcomeAdmit}
	return v
}

// PreEnqueue keeps pods out of the scheduling queue while their queue
// makes them wait (maximum, driver share, FIFO) or the driver's conf is not
// there yet. Such pods are not attempted, so they are never marked
// PodScheduled=False/Unschedulable and autoscalers do not add nodes for a
// quota; they are let in by Activate when their queue changes.
func (p *SparkGang) PreEnqueue(ctx context.Context, pod *corev1.Pod) *fwk.Status {
	now := p.now()
	p.mu.Lock()
	a := p.apps.observeIfNew(pod)
	v := p.decide(pod, now)
	if v.admit {
		delete(p.gated, pod.UID)
		if a != nil && spark.RoleOf(pod) == spark.RoleDriver && a.pending() {
			a.claimed = now
		}
	} else {
		p.gated[pod.UID] = gateInfo{pod: pod, outcome: v.outcome}
	}
	said := v.outcome
	if v.warning != "" {
		said += "!"
	}
	prev := p.told[pod.UID]
	// The start-up wait (the ledger being rebuilt) lasts a moment and
	// concerns every pending Spark pod at once: an event for it, and one
	// more when it ends, would be two events per pod after each restart
	// (2,000 API writes in a second for a backlog of 1,000 executors).
	tell := said != prev && (!v.admit || prev != "" || v.warning != "") && v.outcome != outcomeStarting
	if tell {
		p.told[pod.UID] = said
	}
	p.mu.Unlock()

	if v.role != "" {
		p.metrics.decision(v.role, v.outcome)
	}
	logger := klog.FromContext(ctx)
	if v.warning != "" && tell {
		p.event(pod, corev1.EventTypeWarning, "SparkConfProblem", "Admit", "%s", v.warning)
	}
	if v.admit {
		if tell {
			logger.V(2).Info("Spark pod admitted by its queue", "pod", klog.KObj(pod), "reason", v.reasons)
			p.event(pod, corev1.EventTypeNormal, "QueueAdmitted", "Admit", "%s", orDefault(v.reasons, "admitted"))
		}
		return nil
	}
	if tell {
		logger.V(2).Info("Spark pod waits in its queue", "pod", klog.KObj(pod), "outcome", v.outcome, "reason", v.reasons)
		p.event(pod, corev1.EventTypeNormal, "QueueWaiting", "Admit", "%s", v.reasons)
	}
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, v.reasons)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// EventsToRegister: what may make a pod this plugin kept out or rejected
// schedulable. Changes the framework does not see as cluster events
// (reservations released or expired, a queue's head admitted, time
// passing, a conf ConfigMap created) are handled by Activate instead.
func (p *SparkGang) EventsToRegister(context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete}, QueueingHintFn: p.hintPodDeleted},
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.UpdatePodLabel}, QueueingHintFn: p.hintPodLabel},
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable | fwk.UpdateNodeLabel | fwk.UpdateNodeTaint}, QueueingHintFn: p.hintNode},
	}, nil
}

// hintPodDeleted: a deleted pod frees room and queue usage, except for
// pods waiting for their conf.
func (p *SparkGang) hintPodDeleted(_ klog.Logger, pod *corev1.Pod, _, _ any) (fwk.QueueingHint, error) {
	p.mu.Lock()
	g, gated := p.gated[pod.UID]
	p.mu.Unlock()
	if gated && (g.outcome == outcomeWaitConf || g.outcome == outcomeStarting) {
		return fwk.QueueSkip, nil
	}
	return fwk.Queue, nil
}

// hintPodLabel: a pod's own labels (its queue) changed.
func (p *SparkGang) hintPodLabel(_ klog.Logger, pod *corev1.Pod, _, newObj any) (fwk.QueueingHint, error) {
	if n, ok := newObj.(*corev1.Pod); ok && n.UID == pod.UID {
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// hintNode: node changes give room to gangs and executors, never to a
// pod waiting in its queue.
func (p *SparkGang) hintNode(_ klog.Logger, pod *corev1.Pod, _, _ any) (fwk.QueueingHint, error) {
	p.mu.Lock()
	_, gated := p.gated[pod.UID]
	p.mu.Unlock()
	if gated {
		return fwk.QueueSkip, nil
	}
	return fwk.Queue, nil
}
