package autoscaled

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the benchmark at its smallest (one simulated app of one
// executor, nodes without kubelets, empty nodes removed after 1s) on the
// real Karpenter, so the code cannot rot: the webhook strategy runs from
// zero nodes and ends at zero, with its driver on on-demand and no
// cross-zone pair, the sparkplane scheduler's is skipped, and the table has
// a row per strategy. Only one strategy runs, to keep it under a minute:
// "off" differs only in leaving the webhook unregistered. Timings are not asserted. It needs
// Karpenter (built once by hack/karpenter.sh, as for test/autoscaler);
// -short skips it.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a cluster and the real Karpenter")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	cfg := Config{Apps: 1, Executors: 1, Strategies: []string{Webhook, Gang}, Mode: ModeSim, Dir: t.TempDir(),
		SimDuration: time.Second, ConsolidateAfter: "1s", Timeout: 3 * time.Minute, Log: &log}
	rows, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	if len(rows) != 2 || rows[0].Skipped != "" || rows[1].Skipped == "" {
		t.Fatalf("rows %+v, want webhook run, sparkplane skipped\n%s", rows, log.String())
	}
	for _, r := range rows[:1] {
		if len(r.Apps) != 1 || r.Apps[0].Result != "done" || len(r.Apps[0].Executors) != 1 {
			t.Errorf("%s: apps %+v, want one done with one executor", r.Strategy, r.Apps)
			continue
		}
		if r.Nodes.Nodes < 1 || r.Nodes.NodeSeconds <= 0 || r.Nodes.Cost <= 0 || r.Apps[0].Rounds < 1 {
			t.Errorf("%s: nodes %+v, rounds %d: want launched nodes with a life, a cost and a round", r.Strategy, r.Nodes, r.Apps[0].Rounds)
		}
	}
	if a := rows[0].Apps[0]; a.Driver.Capacity != "on-demand" || a.CrossZone != 0 {
		t.Errorf("with the webhook: driver on %s, %d cross-zone executors; want on-demand, 0", a.Driver.Capacity, a.CrossZone)
	}
	var out strings.Builder
	Print(&out, cfg, rows)
	for _, s := range []string{Webhook, Gang} {
		if !strings.Contains(out.String(), Describe(s)) {
			t.Errorf("table has no row for %s:\n%s", Describe(s), out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
