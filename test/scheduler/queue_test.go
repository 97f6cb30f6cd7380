package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

func inQueue(app sparksim.App, queue string) sparksim.App {
	app.DriverTemplate = func(p *corev1.Pod) { p.Labels[gang.LabelQueue] = queue }
	return app
}

// TestQueueLimits runs two queues on a cluster with room for all:
// "share" (maximum 10 cpu, maxDriverShare 0.2: drivers may hold 2 cpu) and
// "max" (maximum 5 cpu). Four apps of a 1-cpu driver and one 1-cpu
// executor each go to either queue: two run at a time in each, the others
// wait without being marked Unschedulable, and all finish.
func TestQueueLimits(t *testing.T) {
	ns := namespace(t)
	createNodes(t, ns, node{name: "big", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "32"})
	args := &scheduler.SparkGangArgs{
		HeadOfLineWait: &metav1.Duration{},
		Queues: []scheduler.QueueConfig{
			{Name: "share", QueueLimits: scheduler.QueueLimits{MaxCPU: ptr.To(resource.MustParse("10")), MaxDriverShare: 0.2}},
			{Name: "max", QueueLimits: scheduler.QueueLimits{MaxCPU: ptr.To(resource.MustParse("5"))}},
		},
	}
	startScheduler(t, args)
	rec := record(t, ns)
	var share, maxq []*sparksim.Driver
	for i := 1; i <= 4; i++ {
		share = append(share, submit(t, inQueue(sparkApp(ns, fmt.Sprintf("share-%d", i), 1, 3*time.Second), "share")))
		maxq = append(maxq, submit(t, inQueue(sparkApp(ns, fmt.Sprintf("max-%d", i), 1, 3*time.Second), "max")))
	}
	running := func(apps []*sparksim.Driver) (n int) {
		for _, d := range apps {
			if rec.boundSeq(d.App.DriverName()) > 0 && rec.doneSeq(d.App.DriverName()) == 0 {
				n++
			}
		}
		return n
	}
	eventually(t, 20*time.Second, "two apps running in each queue", rec, func() bool { return running(share) == 2 && running(maxq) == 2 })
	time.Sleep(time.Second)
	if r1, r2 := running(share), running(maxq); r1 != 2 || r2 != 2 {
		t.Errorf("running apps: share %d, max %d; want 2 and 2", r1, r2)
	}
	for _, apps := range [][]*sparksim.Driver{share, maxq} {
		for _, d := range apps[2:] {
			if rec.boundSeq(d.App.DriverName()) != 0 {
				t.Errorf("%s bound while its queue is full", d.App.Name)
			}
			if msg, ok := rec.unschedulable(d.App.DriverName()); ok {
				t.Errorf("%s waits for its queue but was marked Unschedulable (autoscalers would add nodes for a quota): %s", d.App.Name, msg)
			}
		}
	}
	// The queues are visible: as `sparkplane queues` computes them from the
	// API, and in the scheduler's metrics.
	list, err := shared.cp.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	summary, err := scheduler.Summarize(args, scheduler.SchedulerName, pods, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range summary {
		t.Logf("queue %s: %d running, %d waiting, %s used (drivers %s), oldest waiting %s", q.Name, q.Running, q.Waiting, q.Used, q.Drivers, q.Head)
		if q.Running != 2 || q.Waiting != 2 {
			t.Errorf("queue %s: %d running and %d waiting, want 2 and 2", q.Name, q.Running, q.Waiting)
		}
	}
	if len(summary) != 2 {
		t.Errorf("%d queues summarized, want share and max", len(summary))
	}
	for _, q := range []string{"share", "max"} {
		if got := counter(t, "sparkplane_scheduler_queue_running_apps", q); got != 2 {
			t.Errorf("metric queue_running_apps{queue=%q} = %v, want 2", q, got)
		}
		if got := counter(t, "sparkplane_scheduler_queue_waiting_apps", q); got != 2 {
			t.Errorf("metric queue_waiting_apps{queue=%q} = %v, want 2", q, got)
		}
	}

	all := append(append([]*sparksim.Driver{}, share...), maxq...)
	waitDone(t, rec, 60*time.Second, all...)
	// The driver share counts drivers: never more than 2 at once. The
	// maximum counts cpu in use: when a driver binds, what the queue's
	// running gangs still hold (driver and unfinished executors; an app's
	// executors finish before its driver) plus the new gang fits 5 cpu.
	for _, d := range share {
		if n := runningAt(rec, share, rec.boundSeq(d.App.DriverName())); n > 1 {
			t.Errorf("%s started while %d other drivers of queue share ran: more than its driver share\n%s", d.App.Name, n, rec.dump())
		}
	}
	const maxCPU, appCPU = 5, 2 // queue max's maximum; a driver and one executor
	for _, d := range maxq {
		if held := heldAt(rec, maxq, rec.boundSeq(d.App.DriverName()), appCPU); held+appCPU > maxCPU {
			t.Errorf("%s started while its queue's running apps held %d cpu: over the maximum of %d\n%s", d.App.Name, held, maxCPU, rec.dump())
		}
	}
	for _, apps := range [][]*sparksim.Driver{share, maxq} {
		for _, d := range apps {
			if msg, ok := rec.unschedulable(d.App.DriverName()); ok {
				t.Errorf("%s was marked Unschedulable: %s", d.App.Name, msg)
			}
		}
	}
}

// TestHeadOfLineEscape: the head of the queue is an app whose gang fits
// nowhere (it asks for 9 executors on a 6-cpu cluster): it is marked
// Unschedulable, as autoscalers expect. A small app behind it waits for
// the head-of-line wait, then passes it and finishes.
func TestHeadOfLineEscape(t *testing.T) {
	const holWait = 3 * time.Second
	ns := namespace(t)
	createNodes(t, ns, node{name: "n", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "6"})
	startScheduler(t, &scheduler.SparkGangArgs{HeadOfLineWait: &metav1.Duration{Duration: holWait}})
	rec := record(t, ns)
	big := submit(t, sparkApp(ns, "big", 9, time.Second))
	time.Sleep(100 * time.Millisecond)
	small := submit(t, sparkApp(ns, "small", 1, time.Second))
	submitted := time.Now()

	eventually(t, 10*time.Second, "the big app's driver marked Unschedulable", rec, func() bool {
		_, ok := rec.unschedulable(big.App.DriverName())
		return ok
	})
	msg, _ := rec.unschedulable(big.App.DriverName())
	t.Logf("big app's driver: PodScheduled=False, Unschedulable: %s", msg)
	time.Sleep(holWait / 2)
	if rec.boundSeq(small.App.DriverName()) != 0 {
		t.Fatalf("the small app passed the head before the head-of-line wait")
	}
	if msg, ok := rec.unschedulable(small.App.DriverName()); ok {
		t.Errorf("the small app waits behind the head but was marked Unschedulable: %s", msg)
	}
	waitDone(t, rec, 20*time.Second, small)
	waited := small.Started().Sub(submitted)
	t.Logf("small app started %s after submission (head-of-line wait %s)", waited.Round(100*time.Millisecond), holWait)
	if waited < holWait-time.Second {
		t.Errorf("small app started after %s, before the head-of-line wait of %s", waited, holWait)
	}
	if rec.boundSeq(big.App.DriverName()) != 0 {
		t.Errorf("the big app's driver was bound although its gang fits nowhere")
	}
}
