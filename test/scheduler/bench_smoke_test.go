package scheduler_test

import (
	"context"
	imgpng "image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkplane/sparkplane/bench/deadlock"
	"github.com/sparkplane/sparkplane/bench/placement"
)

// TestBenchPlacementSmoke runs the placement benchmark at a tiny size so
// that it cannot rot: every strategy binds every executor (in its driver's
// zone, checked by the bench) and the table has a row per strategy.
// Timings are not asserted.
func TestBenchPlacementSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := placement.Run(ctx, shared.cp, placement.Config{
		Nodes: []int{6}, Apps: 3, Executors: 3, Timeout: time.Minute, Metrics: shared.metrics,
	})
	if err != nil {
		t.Fatalf("placement bench: %v", err)
	}
	if len(rows) != len(placement.AllStrategies) {
		t.Fatalf("%d rows, want one per strategy (%d)", len(rows), len(placement.AllStrategies))
	}
	for _, r := range rows {
		if r.Executors != 9 || r.Bound != r.Executors {
			t.Errorf("%s: %d of %d executors bound, want 9 of 9", placement.Describe(r.Strategy), r.Bound, r.Executors)
		}
		if r.PodsPerSec <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: implausible figures %+v", placement.Describe(r.Strategy), r)
		}
	}
	var b strings.Builder
	placement.Print(&b, rows)
	for _, s := range placement.AllStrategies {
		if !strings.Contains(b.String(), placement.Describe(s)) {
			t.Errorf("table has no row for %s:\n%s", placement.Describe(s), b.String())
		}
	}
	t.Logf("\n%s", b.String())
}

// TestBenchPlacementBacklogSmoke runs the scheduler-alone mode on a busy
// tiny cluster (background pods on every node), restarting the scheduler
// per strategy, and draws the plot.
func TestBenchPlacementBacklogSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := placement.Run(ctx, shared.cp, placement.Config{
		Nodes: []int{6}, Apps: 3, Executors: 3, Timeout: time.Minute, Metrics: shared.metrics,
		Strategies: []string{placement.Unconstrained, placement.PodAffinity, placement.Gang},
		Backlog:    true, Background: 2, ScorePercent: 100, // the -score-percent path too
	})
	if err != nil {
		t.Fatalf("placement bench: %v", err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	for _, r := range rows {
		if r.Bound != 9 || r.PodsPerSec <= 0 {
			t.Errorf("%s: %d of 9 executors bound at %.1f pods/s", placement.Describe(r.Strategy), r.Bound, r.PodsPerSec)
		}
	}
	png := filepath.Join(t.TempDir(), "placement.png")
	if err := placement.Plot(rows, "smoke", png); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(png)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := imgpng.Decode(f)
	if err != nil || img.Bounds().Dx() < 400 {
		t.Fatalf("plot is not a PNG of a plausible size: %v", err)
	}
}

// TestBenchDeadlockSmoke runs the deadlock benchmark at a tiny size: the
// sparkplane scheduler completes every app of an over-subscribed cluster
// (twice the apps that fit at once).
func TestBenchDeadlockSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var timeline strings.Builder
	cfg := deadlock.Config{Apps: 4, Nodes: 2, Duration: 2 * time.Second, Timeout: time.Minute,
		Schedulers: []string{"sparkplane"}, Metrics: shared.metrics, Timeline: &timeline, Bucket: time.Second}
	rows, err := deadlock.Run(ctx, shared.cp, cfg)
	if err != nil {
		t.Fatalf("deadlock bench: %v", err)
	}
	if len(rows) != 1 || rows[0].Completed != 4 || rows[0].TimedOut {
		t.Fatalf("sparkplane did not complete all 4 apps: %+v", rows)
	}
	if rows[0].OverBound <= 0 {
		t.Errorf("makespan/bound not computed: %+v", rows[0])
	}
	var b strings.Builder
	deadlock.Print(&b, cfg, rows)
	if !strings.Contains(b.String(), "sparkplane") {
		t.Errorf("table has no sparkplane row:\n%s", b.String())
	}
	if !strings.Contains(timeline.String(), "apps finished") {
		t.Errorf("no timeline:\n%s", timeline.String())
	}
	t.Logf("\n%s", b.String())
}
