package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/bench/loadgen"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// A tiny run of the webhook load generator used by `make bench`, so the
// benchmark code cannot rot: every admission is answered, patched, and
// served from the caches with no API call.
func TestWebhookLoadSmoke(t *testing.T) {
	ns := namespace(t)
	nodes := createNodes(t, perZone([]string{"zone-a"}, "8", "")...)
	var nodeName string
	for n := range nodes {
		nodeName = n
	}
	app := sparksim.App{Namespace: ns, Name: "load"}
	drv := sparksim.DriverPod(app)
	drv.Spec.NodeName = nodeName
	drv, err := shared.cp.Client.CoreV1().Pods(ns).Create(context.Background(), drv, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	target := loadgen.Target{URL: shared.url, CABundle: shared.caBundle}
	for i := 1; i <= 10; i++ {
		p := sparksim.ExecutorPod(app, drv, i)
		p.Spec.SchedulerName = corev1.DefaultSchedulerName
		body, err := loadgen.ReviewBody(p, fmt.Sprintf("u-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		target.Bodies = append(target.Bodies, body)
	}
	// Let the driver reach the cache before measuring.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if info, _ := shared.wh.Cache.Driver(ns, sparksim.ExecutorPod(app, drv, 1)); info != nil && info.Zone == "zone-a" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := shared.wh.Metrics.APIRequestCount()
	for _, run := range []func() (loadgen.Result, error){
		func() (loadgen.Result, error) {
			return loadgen.Closed(context.Background(), target, 2, 300*time.Millisecond)
		},
		func() (loadgen.Result, error) {
			return loadgen.Open(context.Background(), target, 200, 300*time.Millisecond)
		},
	} {
		r, err := run()
		if err != nil {
			t.Fatal(err)
		}
		if r.Requests == 0 || r.Errors != 0 || r.Patched != r.Requests || r.P99 == 0 {
			t.Errorf("load run: %+v", r)
		}
	}
	if n := shared.wh.Metrics.APIRequestCount() - before; n != 0 {
		t.Errorf("%d API requests during the load run", n)
	}
}
