package scheduler

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// eventsHandle is the one part of the framework handle PreEnqueue uses.
type eventsHandle struct {
	fwk.Handle
	rec *events.FakeRecorder
}

func (h eventsHandle) EventRecorder() events.EventRecorderLogger { return h.rec }

func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// After a restart every pending Spark pod waits a moment for the ledger to
// be rebuilt. That wait gates the pods but tells nobody: an event for it,
// and one more when it ends, were two API writes per pending pod in a
// burst (a backlog of 1,000 executors made 2,000 events in a second). A
// real wait still gets its event.
func TestStartupWaitMakesNoEvents(t *testing.T) {
	ctx := context.Background()
	args := &SparkGangArgs{}
	args.SetDefaults()
	rec := events.NewFakeRecorder(100)
	p := &SparkGang{
		handle: eventsHandle{rec: rec}, args: args, policy: args.Policy(), metrics: NewMetrics(),
		apps:     newTracker(args.QueueLabel, SchedulerName),
		cmLister: corelisters.NewConfigMapLister(cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})),
		gated:    map[types.UID]gateInfo{}, noFit: map[types.UID]*corev1.Pod{}, told: map[types.UID]string{},
		now: time.Now,
	}

	running := sparksim.App{Namespace: "etl", Name: "running", Executors: 1, DriverCPU: "1", DriverMemory: "1Gi", ExecutorCPU: "1", ExecutorMemory: "1Gi", SchedulerName: SchedulerName}
	driver := sparksim.DriverPod(running)
	driver.UID, driver.Spec.NodeName = "d1", "n1"
	driver.CreationTimestamp = metav1.Now()
	executor := sparksim.ExecutorPod(running, driver, 1)
	executor.UID = "e1"
	p.apps.observe(driver)
	// A driver whose spark.properties ConfigMap is not there: a real wait.
	waiting := sparksim.App{Namespace: "etl", Name: "waiting", Executors: 1, DriverCPU: "1", DriverMemory: "1Gi", ExecutorCPU: "1", ExecutorMemory: "1Gi", SchedulerName: SchedulerName}
	waitingDriver := sparksim.DriverPod(waiting)
	waitingDriver.UID = "d2"
	waitingDriver.CreationTimestamp = metav1.Now()

	if st := p.PreEnqueue(ctx, executor); st.IsSuccess() {
		t.Fatal("an executor was let in while the ledger was being rebuilt")
	}
	if got := drain(rec); len(got) != 0 {
		t.Errorf("events for the start-up wait: %q", got)
	}

	p.ledger, p.ready = gang.NewLedger(), true
	if st := p.PreEnqueue(ctx, executor); !st.IsSuccess() {
		t.Fatalf("the executor still waits once the ledger is rebuilt: %v", st)
	}
	if got := drain(rec); len(got) != 0 {
		t.Errorf("events for the end of the start-up wait: %q", got)
	}

	if st := p.PreEnqueue(ctx, waitingDriver); st.IsSuccess() {
		t.Fatal("a driver without its spark.properties ConfigMap was let in")
	}
	if got := drain(rec); len(got) != 1 || !strings.Contains(got[0], "QueueWaiting") {
		t.Errorf("events for a driver waiting for its conf: %q, want one QueueWaiting", got)
	}
}
