package scheduler_test

import (
	"context"
	"io"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// TestControlPlaneSchedulerOptions runs the sparkplane scheduler the other
// documented way, as the harness's own in-process scheduler
// (controlplane.Options.SchedulerOptions), on a second control plane.
func TestControlPlaneSchedulerOptions(t *testing.T) {
	ctx := context.Background()
	opts, err := scheduler.SchedulerOptions(scheduler.Config{DefaultProfile: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{Scheduler: true, SchedulerOptions: opts, LogWriter: io.Discard, SkipKlogSetup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	t.Logf("second control plane with the sparkplane scheduler up in %s", time.Since(start).Round(time.Millisecond))
	if _, err := cp.CreateNode(ctx, controlplane.NodeSpec{Name: "n1", Zone: "zone-a", CPU: "4", Memory: "16Gi",
		Labels: v1alpha1.Default().Provider.NodeLabels(v1alpha1.CapacityOnDemand)}); err != nil {
		t.Fatal(err)
	}
	app := sparkApp("default", "harness", 2, time.Second)
	d, err := sparksim.Submit(ctx, cp.Client, app)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	select {
	case <-d.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("app did not finish (driver error: %v)", d.Err())
	}
	drv, err := cp.Client.CoreV1().Pods("default").Get(ctx, app.DriverName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if drv.Spec.NodeName != "n1" {
		t.Errorf("driver on %q", drv.Spec.NodeName)
	}
	if v := drv.Annotations[gang.AnnotationGang]; v != "" {
		t.Errorf("gang annotation left after the gang completed: %s", v)
	}
}
