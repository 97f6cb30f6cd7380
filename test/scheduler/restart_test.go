package scheduler_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/gang"
)

// TestRestartMidGang stops the scheduler right after it bound the driver
// of app A (one 6-cpu node: A's driver plus four 1-cpu executors leave one
// cpu), before any executor of A was bound. While it is down, A's
// executors and app B (a driver and two executors, 3 cpu) are created. The
// restarted scheduler must rebuild A's reservation from the driver's
// annotation: B, which would fit in the room held for A, waits until A is
// done; nothing is double-booked and both finish.
func TestRestartMidGang(t *testing.T) {
	ns := namespace(t)
	createNodes(t, ns, node{name: "n", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "6"})
	first := startScheduler(t, nil)
	rec := record(t, ns)
	appA := sparkApp(ns, "a", 4, 2*time.Second)
	appA.StartDelay = 2 * time.Second
	a := submit(t, appA)
	eventually(t, 10*time.Second, "A's driver bound", rec, func() bool { return rec.boundSeq(appA.DriverName()) > 0 })
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	drv := getPod(t, ns, appA.DriverName())
	ann := drv.Annotations[gang.AnnotationGang]
	if ann == "" {
		t.Fatalf("A's driver is bound but carries no %s annotation", gang.AnnotationGang)
	}
	t.Logf("scheduler stopped; A's driver carries %s=%s", gang.AnnotationGang, ann)

	b := submit(t, sparkApp(ns, "b", 2, time.Second))
	eventually(t, 10*time.Second, "A's executors created while the scheduler is down", rec, func() bool { return len(rec.executors(appA)) == 4 })
	startScheduler(t, nil)

	waitDone(t, rec, 60*time.Second, a, b)
	lastA := 0
	for _, e := range rec.executors(appA) {
		lastA = max(lastA, rec.boundSeq(e))
	}
	if got := rec.boundSeq(b.App.DriverName()); got < lastA {
		t.Errorf("B's driver was bound before all of A's executors: the room held for A was given to B\n%s", rec.dump())
	}
	if len(rec.executors(appA)) != 4 {
		t.Errorf("A created %d executors, want 4", len(rec.executors(appA)))
	}
	// The reservation was complete once A's executors were bound: the
	// annotation is removed so that a later restart holds nothing.
	if got := getPod(t, ns, appA.DriverName()).Annotations[gang.AnnotationGang]; got != "" {
		t.Errorf("A's driver still carries %s=%s after its gang completed", gang.AnnotationGang, got)
	}
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := shared.cp.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting pod %s/%s: %v", ns, name, err)
	}
	return p
}
