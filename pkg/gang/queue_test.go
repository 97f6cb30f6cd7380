package gang

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func queue(cpu, mem string, share float64) Queue {
	q := Queue{Name: "etl", MaxDriverShare: share}
	if cpu != "" {
		q.MaxCPU = resource.MustParse(cpu)
	}
	if mem != "" {
		q.MaxMemory = resource.MustParse(mem)
	}
	return q
}

// app asks for a driver of 1 cpu, 2Gi and n executors of 1 cpu, 2Gi.
func app(key string, created time.Time, n int) App {
	return App{Key: AppKey(key), Created: created, Driver: Resources{1000, 2 * gi}, Executors: Resources{1000, 2 * gi}.Times(n)}
}

func running(key string, driverCPU, execCPU int64) AppUsage {
	return AppUsage{App: AppKey(key), Driver: Resources{driverCPU * 1000, driverCPU * 2 * gi}, Executors: Resources{execCPU * 1000, execCPU * 2 * gi}}
}

func TestAdmit(t *testing.T) {
	now := t0
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	escape := policy(func(p *Policy) { p.HeadOfLineWait = 10 * time.Minute })
	tests := []struct {
		name    string
		q       Queue
		st      QueueState
		app     App
		pol     Policy
		want    Outcome
		reasons []string
		passed  []AppKey
	}{
		{
			name: "empty queue admits", q: queue("16", "64Gi", 0.5), app: app("ns/a", ago(time.Minute), 4), pol: policy(),
			want: OutcomeAdmit, reasons: []string{"app ns/a admitted to queue etl: with it 5 cpu, 10Gi is in use, the maximum 16 cpu, 64Gi"},
		},
		{
			name: "no maximum admits anything", q: queue("", "", 0.5), app: app("ns/a", ago(time.Minute), 400), pol: policy(),
			st:   QueueState{Running: []AppUsage{running("ns/r", 100, 1000)}},
			want: OutcomeAdmit, reasons: []string{"no maximum"},
		},
		{
			name: "queue maximum would be exceeded", q: queue("16", "", 0), pol: policy(),
			st:   QueueState{Running: []AppUsage{running("ns/r", 1, 12)}},
			app:  app("ns/a", ago(time.Minute), 4),
			want: OutcomeWaitQuota, reasons: []string{"queue etl has 3 cpu free of its maximum 16 cpu; the gang of app ns/a needs 5 cpu"},
		},
		{
			name: "memory maximum too", q: queue("100", "20Gi", 0), pol: policy(),
			st:   QueueState{Running: []AppUsage{running("ns/r", 1, 5)}},
			app:  app("ns/a", ago(time.Minute), 4),
			want: OutcomeWaitQuota, reasons: []string{"queue etl has 8Gi free of its maximum 20Gi; the gang of app ns/a needs 10Gi"},
		},
		{
			name: "a gang larger than the queue can never start", q: queue("4", "", 0), pol: policy(),
			app:  app("ns/a", ago(time.Minute), 4),
			want: OutcomeWaitQuota, reasons: []string{"app ns/a can never start in queue etl: its gang (driver and minimum executors) needs 5 cpu, above the queue maximum of 4 cpu"},
		},
		{
			name: "driver share: drivers may not crowd out executors", q: queue("16", "", 0.25), pol: policy(),
			st:   QueueState{Running: []AppUsage{running("ns/r1", 2, 0), running("ns/r2", 2, 0)}},
			app:  app("ns/a", ago(time.Minute), 1),
			want: OutcomeWaitDriverShare, reasons: []string{"drivers in queue etl would hold 5 cpu, above their share (0.25) of the maximum, 4 cpu"},
		},
		{
			name: "driver share exactly reached is fine", q: queue("16", "", 0.25), pol: policy(),
			st:   QueueState{Running: []AppUsage{running("ns/r1", 3, 0)}},
			app:  app("ns/a", ago(time.Minute), 1),
			want: OutcomeAdmit,
		},
		{
			name: "a driver share too small for one driver does not keep an empty queue empty", q: queue("16", "", 0.01), pol: policy(),
			app:  app("ns/a", ago(time.Minute), 1),
			want: OutcomeAdmit,
		},
		{
			name: "FIFO: an older app is still waiting", q: queue("16", "", 0), pol: policy(),
			st:   QueueState{Waiting: []App{app("ns/young", ago(time.Second), 1), app("ns/old", ago(3*time.Minute), 10), app("ns/a", ago(time.Minute), 1)}},
			app:  app("ns/a", ago(time.Minute), 1),
			want: OutcomeWaitFIFO, reasons: []string{"app ns/a waits behind 1 older app(s) in queue etl, first ns/old (waiting 3m0s)"},
		},
		{
			name: "FIFO ties on creation time break by key", q: queue("16", "", 0), pol: policy(),
			st:   QueueState{Waiting: []App{app("ns/b", ago(time.Minute), 1)}},
			app:  app("ns/a", ago(time.Minute), 1),
			want: OutcomeAdmit,
		},
		{
			name: "the head of the queue is admitted", q: queue("16", "", 0), pol: policy(),
			st:   QueueState{Waiting: []App{app("ns/b", ago(time.Second), 1), app("ns/a", ago(time.Minute), 1)}},
			app:  app("ns/a", ago(time.Minute), 1),
			want: OutcomeAdmit,
		},
		{
			name: "head-of-line escape: a small app passes a head that waited too long", q: queue("16", "", 0), pol: escape,
			st: QueueState{
				Running: []AppUsage{running("ns/r", 1, 10)},
				Waiting: []App{app("ns/big", ago(12*time.Minute), 10), app("ns/mid", ago(5*time.Minute), 8), app("ns/a", ago(time.Minute), 2)},
			},
			app:  app("ns/a", ago(time.Minute), 2),
			want: OutcomeAdmit, passed: []AppKey{"ns/big", "ns/mid"},
			reasons: []string{"app ns/a admitted to queue etl ahead of 2 older app(s): the first, ns/big, has waited 12m0s, longer than the head-of-line wait of 10m0s"},
		},
		{
			name: "no escape before the wait is over", q: queue("16", "", 0), pol: escape,
			st:   QueueState{Waiting: []App{app("ns/big", ago(9*time.Minute), 10)}},
			app:  app("ns/a", ago(time.Minute), 2),
			want: OutcomeWaitFIFO,
		},
		{
			name: "the escape still respects the maximum", q: queue("16", "", 0), pol: escape,
			st: QueueState{
				Running: []AppUsage{running("ns/r", 1, 13)},
				Waiting: []App{app("ns/big", ago(time.Hour), 10)},
			},
			app:  app("ns/a", ago(time.Minute), 2),
			want: OutcomeWaitQuota,
		},
		{
			name: "an older app that can never fit blocks nobody", q: queue("16", "", 0), pol: policy(),
			st:   QueueState{Waiting: []App{app("ns/huge", ago(time.Hour), 100)}},
			app:  app("ns/a", ago(time.Minute), 2),
			want: OutcomeAdmit,
		},
		{
			name: "an app already running stays admitted", q: queue("1", "", 0), pol: policy(),
			st:   QueueState{Running: []AppUsage{running("ns/a", 1, 4)}},
			app:  app("ns/a", ago(time.Minute), 4),
			want: OutcomeAdmit, reasons: []string{"already runs"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.q.Validate(); err != nil {
				t.Fatal(err)
			}
			d := Admit(tc.q, tc.st, tc.app, now, tc.pol)
			if d.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s: %s", d.Outcome, tc.want, d.Reasons)
			}
			if !reflect.DeepEqual(d.Passed, tc.passed) {
				t.Errorf("passed %v, want %v", d.Passed, tc.passed)
			}
			for _, r := range tc.reasons {
				if !strings.Contains(d.Reasons.String(), r) {
					t.Errorf("reasons %q\nlack %q", d.Reasons, r)
				}
			}
			if len(d.Reasons) == 0 {
				t.Error("no reasons")
			}
		})
	}
}

// TestAdmitFIFOOrder starts apps as room frees up and checks they start in
// creation order.
func TestAdmitFIFOOrder(t *testing.T) {
	q := queue("10", "", 0)
	var st QueueState
	for _, k := range []string{"ns/4", "ns/2", "ns/5", "ns/1", "ns/3"} {
		st.Waiting = append(st.Waiting, app(k, t0.Add(time.Duration(k[3]-'0')*time.Second), 4))
	}
	var order []AppKey
	for round := 0; len(st.Waiting) > 0 && round < 20; round++ {
		var still []App
		for _, w := range st.Waiting {
			if d := Admit(q, st, w, t0.Add(time.Hour), policy()); d.Outcome == OutcomeAdmit {
				order = append(order, w.Key)
				st.Running = append(st.Running, AppUsage{App: w.Key, Driver: w.Driver, Executors: w.Executors})
			} else {
				still = append(still, w)
			}
		}
		st.Waiting = still
		if len(st.Running) > 0 { // the oldest running app finishes
			st.Running = st.Running[1:]
		}
	}
	want := []AppKey{"ns/1", "ns/2", "ns/3", "ns/4", "ns/5"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("started %v, want %v", order, want)
	}
}

func TestAdmitExecutor(t *testing.T) {
	q := queue("16", "64Gi", 0)
	st := QueueState{Running: []AppUsage{running("ns/r", 1, 14)}}
	if d := AdmitExecutor(q, st, Resources{1000, gi}); d.Outcome != OutcomeAdmit {
		t.Errorf("%s: %s", d.Outcome, d.Reasons)
	}
	d := AdmitExecutor(q, st, Resources{2000, gi})
	if d.Outcome != OutcomeWaitQuota || !strings.Contains(d.Reasons.String(), "queue etl has 1 cpu free of its maximum 16 cpu; the executor needs 2 cpu") {
		t.Errorf("%s: %s", d.Outcome, d.Reasons)
	}
}

func TestOutcomeUnschedulable(t *testing.T) {
	for o, want := range map[Outcome]bool{
		OutcomeAdmit: false, OutcomeWaitQuota: false, OutcomeWaitDriverShare: false, OutcomeWaitFIFO: false, OutcomeNoFit: true,
	} {
		if o.Unschedulable() != want {
			t.Errorf("%s.Unschedulable() = %v", o, !want)
		}
	}
}

func TestQueueValidate(t *testing.T) {
	for _, q := range []Queue{
		{Name: "q", MaxDriverShare: 1.5},
		{Name: "q", MaxDriverShare: -0.1},
		{Name: "q", MaxCPU: resource.MustParse("-1")},
		{Name: "q", MaxMemory: resource.MustParse("2Pi")},
	} {
		if err := q.Validate(); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
}

func TestStatusAndQueueOf(t *testing.T) {
	st := QueueState{
		Running: []AppUsage{running("ns/r1", 1, 4), running("ns/r2", 2, 8)},
		Waiting: []App{app("ns/w2", t0.Add(-time.Minute), 1), app("ns/w1", t0.Add(-5*time.Minute), 1)},
	}
	before := append([]App(nil), st.Waiting...)
	got := Status(queue("16", "", 0), st, t0)
	want := QueueStatus{Name: "etl", Used: Resources{15000, 30 * gi}, Drivers: Resources{3000, 6 * gi}, Running: 2, Waiting: 2, Head: "ns/w1", HeadWait: 5 * time.Minute}
	if got != want {
		t.Errorf("status %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(before, st.Waiting) {
		t.Error("Status reordered the caller's slice")
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a"}}
	if q := QueueOf(pod, ""); q != "team-a" {
		t.Errorf("queue %q", q)
	}
	pod.Labels = map[string]string{LabelQueue: "etl", "q": "other"}
	if q := QueueOf(pod, ""); q != "etl" {
		t.Errorf("queue %q", q)
	}
	if q := QueueOf(pod, "q"); q != "other" {
		t.Errorf("queue %q", q)
	}
}
