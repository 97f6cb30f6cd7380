package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/spark"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// A hand-made client-mode driver has no spark-app-selector, so it is keyed
// by its name; its executors carry the selector and an ownerReference to
// it. They must count as one app.
func TestTrackerLinksClientModeExecutors(t *testing.T) {
	app := sparksim.App{Namespace: "nb", Name: "notebook", SchedulerName: SchedulerName}
	driver := sparksim.DriverPod(app)
	driver.UID = "driver"
	delete(driver.Labels, spark.LabelAppSelector)
	exec := sparksim.ExecutorPod(app, driver, 1)
	exec.UID = "exec"
	exec.Spec.NodeName = "n1"

	tr := newTracker(gang.LabelQueue, SchedulerName)
	a := tr.observe(driver)
	if got := tr.observe(exec); got != a {
		t.Fatalf("executor keyed %v, driver %v: not linked", tr.keyOf(exec), a.key)
	}
	if a.key != gang.AppKey("nb/"+driver.Name) || len(a.executors) != 1 || a.placedExecutors().MilliCPU != 1000 {
		t.Errorf("app %+v", a)
	}
	// The executor was seen first (informer order is per object): it is
	// moved to its driver's app once the driver is known.
	tr = newTracker(gang.LabelQueue, SchedulerName)
	first := tr.observe(exec)
	a = tr.observe(driver)
	if first == a {
		t.Fatalf("executor linked before its driver was known")
	}
	if got := tr.observe(exec); got != a || len(tr.apps) != 1 {
		t.Errorf("executor not moved to its driver's app: %d apps", len(tr.apps))
	}
}

func TestTrackerForgetsFinishedApps(t *testing.T) {
	app := sparksim.App{Namespace: "ns", Name: "a", SchedulerName: SchedulerName}
	driver := sparksim.DriverPod(app)
	driver.UID = "d"
	driver.CreationTimestamp = metav1.NewTime(time.Now())
	exec := sparksim.ExecutorPod(app, driver, 1)
	exec.UID = "e"
	tr := newTracker(gang.LabelQueue, SchedulerName)
	tr.observe(driver)
	tr.observe(exec)
	done := exec.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	if tr.observe(done) != nil {
		t.Errorf("a finished executor is still tracked")
	}
	if _, wasDriver := tr.forget(driver); !wasDriver {
		t.Errorf("forget(driver) did not report the driver")
	}
	if len(tr.apps) != 0 || len(tr.byQueue) != 0 || len(tr.drivers) != 0 || len(tr.confMaps) != 0 || len(tr.pods) != 0 {
		t.Errorf("state left behind: %+v", tr)
	}
}
