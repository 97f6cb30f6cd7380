package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sparkplane/sparkplane/bench/autoscaled"
)

func mainAutoscaled(args []string) {
	fs := flag.NewFlagSet("autoscaled", flag.ExitOnError)
	apps := fs.Int("apps", 3, "apps submitted together per strategy (3 to 10)")
	execs := fs.Int("executors", 2, "executors per app (1 cpu, 4g heap; the driver 1 cpu, 512m heap)")
	strategies := fs.String("strategies", "off,webhook", "strategies, in order: off (default scheduler, no webhook), webhook (with the sparkplane webhook), sparkplane (sparkplane scheduler with whole-gang scale-up: not available yet)")
	mode := fs.String("mode", autoscaled.ModeSpark, "spark: real PySpark jobs (every column); sim: simulated apps on nodes without kubelets (no shuffle bytes; 'running' is 'bound'), for 10 apps on 2 cores")
	dir := fs.String("dir", "", "the local cluster's directory (default: a new temporary one, removed after a successful run)")
	simDuration := fs.Duration("sim-duration", 30*time.Second, "with -mode sim: how long an app runs once its executors are bound")
	simStart := fs.Duration("sim-start-delay", 5*time.Second, "with -mode sim: how long a driver takes from bound to asking for executors (JVM and SparkContext start)")
	timeout := fs.Duration("timeout", 15*time.Minute, "bound on one strategy (apps, then Karpenter removing every node)")
	_ = fs.Parse(args)
	cfg := autoscaled.Config{Apps: *apps, Executors: *execs, Mode: *mode, Dir: *dir, SimDuration: *simDuration, SimStartDelay: *simStart,
		Timeout: *timeout, Log: os.Stdout}
	for _, s := range strings.Split(*strategies, ",") {
		cfg.Strategies = append(cfg.Strategies, strings.TrimSpace(s))
	}
	temp := cfg.Dir == ""
	if temp {
		d, err := os.MkdirTemp("", "sparkplane-bench-autoscaled-")
		if err != nil {
			fail(err)
		}
		cfg.Dir = d
	}
	if err := cfg.Validate(); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Printf("autoscaled cluster in %s: the real Karpenter (KWOK provider), one NodePool (spot and on-demand, 3 zones, WhenEmpty after %s), %d cores; %d apps x %d executors per strategy, mode %s\n\n",
		cfg.Dir, "10s", runtime.NumCPU(), cfg.Apps, cfg.Executors, cfg.Mode)
	rows, err := autoscaled.Run(ctx, cfg)
	fmt.Println()
	autoscaled.Print(os.Stdout, cfg, rows)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: the cluster directory %s is kept for its logs\n", cfg.Dir)
		fail(err)
	}
	if temp {
		_ = os.RemoveAll(cfg.Dir)
	}
}
