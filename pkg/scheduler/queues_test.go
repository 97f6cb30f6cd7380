package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

func TestSummarize(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	app1 := sparksim.App{Namespace: "etl", Name: "one", Executors: 2, DriverCPU: "1", DriverMemory: "1Gi", ExecutorCPU: "2", ExecutorMemory: "2Gi"}
	app2 := sparksim.App{Namespace: "etl", Name: "two", Executors: 3, DriverCPU: "1", DriverMemory: "1Gi", ExecutorCPU: "1", ExecutorMemory: "1Gi"}

	d1 := sparksim.DriverPod(app1)
	d1.UID, d1.Spec.NodeName = "d1", "n1"
	d1.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
	d1.Annotations = map[string]string{gang.AnnotationGang: gang.Reservation{
		Zone: "zone-a", Slot: gang.Resources{MilliCPU: 2000, Memory: 2 << 30}, Nodes: map[string]int{"n1": 2}, Expires: now.Add(time.Minute),
	}.Encode()}
	e1 := sparksim.ExecutorPod(app1, d1, 1)
	e1.UID, e1.Spec.NodeName = "e1", "n1"
	d2 := sparksim.DriverPod(app2)
	d2.UID = "d2"
	d2.CreationTimestamp = metav1.NewTime(now.Add(-30 * time.Second))
	cm := sparksim.ConfMap(app2)

	got, err := Summarize(&SparkGangArgs{Queues: []QueueConfig{
		{Name: "etl", QueueLimits: QueueLimits{MaxCPU: ptr.To(resource.MustParse("10"))}},
		{Name: "empty"},
	}}, "", []*corev1.Pod{d2, e1, d1}, []*corev1.ConfigMap{cm}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "empty" || got[1].Name != "etl" {
		t.Fatalf("queues: %+v", got)
	}
	etl := got[1]
	// Running: driver 1 cpu + executor 2 cpu + one slot of 2 cpu still held.
	if etl.Running != 1 || etl.Waiting != 1 || etl.Used.MilliCPU != 5000 || etl.Drivers.MilliCPU != 1000 || etl.ReservedSlots != 1 {
		t.Errorf("etl: %+v", etl)
	}
	if etl.Head != gang.AppKeyOf(d2) || etl.HeadWait != 30*time.Second {
		t.Errorf("head %s waiting %s, want %s for 30s", etl.Head, etl.HeadWait, gang.AppKeyOf(d2))
	}
	if etl.Limits.MaxCPU.Cmp(resource.MustParse("10")) != 0 {
		t.Errorf("limits: %+v", etl.Limits)
	}

	// Once expired, the reservation no longer counts.
	got, err = Summarize(nil, "", []*corev1.Pod{d1, e1}, nil, now.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Used.MilliCPU != 3000 || got[0].ReservedSlots != 0 {
		t.Errorf("after expiry: %+v", got)
	}
}

func TestSummarizeOnlyOwnScheduler(t *testing.T) {
	now := time.Now()
	ours := sparksim.App{Namespace: "q", Name: "ours", SchedulerName: SchedulerName}
	other := sparksim.App{Namespace: "q", Name: "other"}
	d1, d2 := sparksim.DriverPod(ours), sparksim.DriverPod(other)
	d1.UID, d2.UID = "d1", "d2"
	got, err := Summarize(nil, SchedulerName, []*corev1.Pod{d1, d2}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Waiting != 1 || got[0].Head != gang.AppKeyOf(d1) {
		t.Errorf("a driver of another scheduler is in sparkplane's queue: %+v", got)
	}
}
