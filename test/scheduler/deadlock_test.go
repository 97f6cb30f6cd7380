package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// deadlockCluster has room for two apps of a 1-cpu driver and four 1-cpu
// executors: 10 cpu on two nodes.
func deadlockCluster(t *testing.T, ns string) {
	createNodes(t, ns,
		node{name: "a", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "5"},
		node{name: "b", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "5"})
}

// deadlockApps are six such apps submitted at once. Executors are asked
// for one per batch, as with spark.kubernetes.allocation.batch.size=1, so
// that the running drivers ask for the little room left all at once.
func deadlockApps(t *testing.T, ns, schedulerName string) []*sparksim.Driver {
	var apps []*sparksim.Driver
	for i := 1; i <= 6; i++ {
		app := sparkApp(ns, fmt.Sprintf("app-%d", i), 4, 1500*time.Millisecond)
		app.BatchSize, app.BatchDelay, app.StartDelay = 1, 200*time.Millisecond, time.Second
		app.SchedulerName = schedulerName
		apps = append(apps, submit(t, app))
	}
	return apps
}

// TestDeadlockWithDefaultScheduler reproduces the partial-allocation
// deadlock: the stock scheduler binds all six drivers, the four cpu left
// go to executors of different apps, and no app ever gets its four.
func TestDeadlockWithDefaultScheduler(t *testing.T) {
	ns := namespace(t)
	deadlockCluster(t, ns)
	startScheduler(t, nil)
	rec := record(t, ns)
	apps := deadlockApps(t, ns, scheduler.DefaultSchedulerName)

	eventually(t, 30*time.Second, "six drivers and four executors bound", rec, func() bool {
		drivers, executors := 0, 0
		for _, d := range apps {
			if rec.boundSeq(d.App.DriverName()) > 0 {
				drivers++
			}
			executors += rec.boundExecutors(d.App)
		}
		return drivers == 6 && executors == 4
	})
	// Stuck: for several batch rounds nothing more is bound and nothing ends.
	time.Sleep(3 * time.Second)
	total := 0
	for _, d := range apps {
		n := rec.boundExecutors(d.App)
		total += n
		if n >= 4 {
			t.Errorf("app %s got all its executors; the default scheduler should have deadlocked", d.App.Name)
		}
		select {
		case <-d.Done():
			t.Errorf("app %s finished; the default scheduler should have deadlocked", d.App.Name)
		default:
		}
	}
	if total != 4 {
		t.Errorf("%d executors bound, want the 4 that fit beside six drivers\n%s", total, rec.dump())
	}
	t.Logf("deadlocked as expected: 6 drivers hold 6 of 10 cpu, 4 executors of different apps hold the rest, %d executors pending", countPending(rec, apps))
	for _, d := range apps {
		d.Stop()
	}
}

func countPending(rec *recorder, apps []*sparksim.Driver) int {
	n := 0
	for _, d := range apps {
		for _, e := range rec.executors(d.App) {
			if rec.boundSeq(e) == 0 {
				n++
			}
		}
	}
	return n
}

// TestGangEndsDeadlock submits the same six apps to the sparkplane
// scheduler: a driver is bound only with room held for its four
// executors, so two apps run at a time, in FIFO order, and all finish.
func TestGangEndsDeadlock(t *testing.T) {
	ns := namespace(t)
	deadlockCluster(t, ns)
	startScheduler(t, &scheduler.SparkGangArgs{HeadOfLineWait: &metav1.Duration{}}) // strict FIFO
	rec := record(t, ns)
	before := counter(t, "sparkplane_scheduler_reservations_total", "completed")
	waitsBefore := counter(t, "sparkplane_scheduler_gang_wait_seconds", ns)
	start := time.Now()
	apps := deadlockApps(t, ns, scheduler.SchedulerName)
	waitDone(t, rec, 90*time.Second, apps...)
	t.Logf("six apps finished in %s", time.Since(start).Round(100*time.Millisecond))

	for i, d := range apps {
		drv := d.App.DriverName()
		// The recorder is an informer: give it the app's last status updates.
		deadline := time.Now().Add(10 * time.Second)
		for rec.boundExecutors(d.App) != 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := rec.boundExecutors(d.App); got != 0 {
			t.Errorf("app %s: %d executors still running after it finished", d.App.Name, got)
		}
		if len(rec.executors(d.App)) != 4 {
			t.Errorf("app %s: created %d executors, want exactly 4 (none lost or replaced)", d.App.Name, len(rec.executors(d.App)))
		}
		if msg, ok := rec.unschedulable(drv); ok && i < 2 {
			t.Errorf("driver %s was marked Unschedulable although its gang fit at once: %s", drv, msg)
		}
		if i == 0 {
			continue
		}
		// FIFO is admission order. With room for two gangs, two apps are
		// admitted together and their drivers may bind in either order; no
		// driver binds before one submitted two places ahead of it.
		if i >= 2 {
			prev := apps[i-2].App.DriverName()
			if rec.boundSeq(drv) < rec.boundSeq(prev) {
				t.Errorf("driver of %s bound before the driver of %s, which was submitted two places earlier", d.App.Name, apps[i-2].App.Name)
			}
		}
		// The gang's room: when a driver is bound, what the running gangs
		// still hold (driver and unfinished executors) plus this whole gang
		// fits the cluster's 10 cpu. (Two apps whose executors are done
		// leave room for a third before their drivers end.)
		if held := heldAt(rec, apps, rec.boundSeq(drv), gangCPU); held+gangCPU > clusterCPU {
			t.Errorf("driver of %s bound while running gangs held %d cpu: its gang of %d did not fit %d\n%s", d.App.Name, held, gangCPU, clusterCPU, rec.dump())
		}
	}
	if got := counter(t, "sparkplane_scheduler_reservations_total", "completed") - before; got != 6 {
		t.Errorf("reservations completed: %v, want 6", got)
	}
	if got := counter(t, "sparkplane_scheduler_gang_wait_seconds", ns) - waitsBefore; got != 6 {
		t.Errorf("gang waits observed in queue %s: %v, want 6", ns, got)
	}
}

// The deadlock cluster's room and one app's gang (driver + 4 executors, 1
// cpu each).
const clusterCPU, gangCPU = 10, 5

// heldAt is the cpu the gangs of apps running at seq still hold: the
// driver and every executor slot of the gang (gang cpu in all, 1 cpu
// each) not yet finished.
func heldAt(rec *recorder, apps []*sparksim.Driver, seq, gang int) int {
	held := 0
	for _, d := range apps {
		b, e := rec.boundSeq(d.App.DriverName()), rec.doneSeq(d.App.DriverName())
		if b == 0 || b >= seq || (e != 0 && e < seq) {
			continue
		}
		done := 0
		for _, x := range rec.executors(d.App) {
			if e := rec.doneSeq(x); e != 0 && e < seq {
				done++
			}
		}
		held += gang - done
	}
	return held
}

// runningAt counts the apps whose driver was bound before seq and had not
// finished by then.
func runningAt(rec *recorder, apps []*sparksim.Driver, seq int) int {
	n := 0
	for _, d := range apps {
		b, e := rec.boundSeq(d.App.DriverName()), rec.doneSeq(d.App.DriverName())
		if b > 0 && b < seq && (e == 0 || e > seq) {
			n++
		}
	}
	return n
}
