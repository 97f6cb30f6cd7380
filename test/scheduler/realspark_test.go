package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// Three real Spark jobs (driver + 2 executors, 3 cpu each) contend for a
// local cluster with room for one gang per zone (2 zones): with the
// sparkplane scheduler all three complete, each gang in one zone.
func TestRealSparkJobsContend(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not on PATH: install Java 17 to run real Spark")
	}
	logs, err := os.Create(t.TempDir() + "/components.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	opts := localcluster.Defaults(t.TempDir())
	opts.Zones, opts.OnDemandPerZone, opts.SpotPerZone, opts.NodeCPU = []string{"zone-a", "zone-b"}, 1, 1, "2"
	opts.Scheduler, opts.LogWriter, opts.Log = localcluster.SchedulerSparkplane, logs, klog.NewKlogr()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	app, err := c.WriteShuffleJob()
	if err != nil {
		t.Fatal(err)
	}
	zoneOf := map[string]string{}
	for _, n := range c.Nodes() {
		zoneOf[n.Name] = n.Zone
	}

	runs := make([]*localcluster.Run, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range runs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runs[i], errs[i] = c.Run(ctx, localcluster.Job{Namespace: fmt.Sprintf("job-%d", i), Args: []string{
				"--name", fmt.Sprintf("job-%d", i), "--conf", "spark.executor.instances=2", "--conf", "spark.executor.memory=512m",
				"--conf", "spark.driver.memory=512m", "--conf", "spark.ui.enabled=false", app, "1", "4", "2", "0", "100000"}})
		}(i)
	}
	wg.Wait()
	t.Logf("3 contending jobs done in %s", time.Since(start).Round(time.Second))
	for i, r := range runs {
		if errs[i] != nil {
			t.Fatalf("job %d: %v", i, errs[i])
		}
		if r.Driver == nil || r.Driver.Phase != "Succeeded" {
			t.Errorf("job %d: driver %+v", i, r.Driver)
			continue
		}
		if got, err := localcluster.ResultLine(opts.Dir, fmt.Sprintf("job-%d", i), r.Driver.Name); err != nil || !strings.HasSuffix(got, "ok=True") {
			t.Errorf("job %d: result %q", i, got)
		}
		if r.Driver.Annotations["sparkplane.io/decision"] == "" {
			t.Errorf("job %d: driver was not admitted by the webhook", i)
		}
		for _, e := range r.Executors {
			if e.Ran && zoneOf[e.Node] != zoneOf[r.Driver.Node] {
				t.Errorf("job %d: executor %d in %s, driver in %s", i, e.ExecID, zoneOf[e.Node], zoneOf[r.Driver.Node])
			}
		}
	}
}
