package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sparkplane/sparkplane/bench/deadlock"
	"github.com/sparkplane/sparkplane/bench/placement"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// startControlPlane starts etcd and kube-apiserver (no scheduler: the
// benches start their own), with component logs in a temp file.
func startControlPlane(ctx context.Context) (*controlplane.ControlPlane, func()) {
	logs, err := os.CreateTemp("", "sparkplane-bench-*.log")
	if err != nil {
		fail(err)
	}
	fmt.Printf("starting etcd + kube-apiserver (component logs: %s) ...\n", logs.Name())
	cp, err := controlplane.Start(ctx, controlplane.Options{LogWriter: logs})
	if err != nil {
		fail(err)
	}
	return cp, func() { cp.Stop(); logs.Close() }
}

func mainPlacement(args []string) {
	fs := flag.NewFlagSet("placement", flag.ExitOnError)
	nodes := fs.String("nodes", "500,1000", "cluster sizes (hollow nodes over 3 zones), comma separated")
	pods := fs.Int("pods", 1000, "executors per strategy and size")
	execs := fs.Int("executors", 20, "executors per app (apps = pods / executors)")
	strategies := fs.String("strategies", "a,b,c,d,e,a,d+", "strategies to run: a unconstrained, b zone nodeSelector, c pod affinity, d sparkplane pinning via placement.Decide, e sparkplane scheduler with gangs, d+ pinning by the real webhook")
	qps := fs.Int("qps", 5000, "client QPS of the scheduler and the bench (burst 2x)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on one strategy at one size")
	warmup := fs.Bool("warmup", true, "run (a) once, unreported, after adding nodes")
	backlog := fs.Bool("backlog", false, "measure the scheduler alone: stop it while the executors are created, then time it from its first binding to its last (default: create while it runs and time creation to bound)")
	background := fs.Int("background", 0, "pods already running on every node (other apps' executors), as on a busy cluster")
	plotFile := fs.String("plot", "", "write a PNG of pods/s against nodes per strategy to this file")
	profDir := fs.String("cpuprofile", "", "write a CPU profile per strategy and size into this directory")
	scorePct := fs.Int("score-percent", 0, "kube-scheduler's percentageOfNodesToScore, 1-100 (0: its adaptive default, 42% at 1,000 nodes); 100 makes every strategy filter every node")
	_ = fs.Parse(args)
	if *scorePct < 0 || *scorePct > 100 {
		fail(fmt.Errorf("-score-percent %d: want 0 (the scheduler's default) to 100", *scorePct))
	}
	cfg := placement.Config{ScorePercent: int32(*scorePct), Apps: max(*pods / *execs, 1), Executors: *execs, Warmup: *warmup, QPS: float32(*qps), Burst: 2 * *qps, Timeout: *timeout, Log: os.Stdout, Backlog: *backlog, ProfileDir: *profDir, Background: *background}
	for _, s := range strings.Split(*nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 3 {
			fail(fmt.Errorf("-nodes: %q is not a size of 3 or more", s))
		}
		cfg.Nodes = append(cfg.Nodes, n)
	}
	for _, s := range strings.Split(*strategies, ",") {
		cfg.Strategies = append(cfg.Strategies, strings.TrimSpace(s))
	}
	ctx := context.Background()
	cp, stop := startControlPlane(ctx)
	defer stop()
	scoring := "percentageOfNodesToScore adaptive (default)"
	if *scorePct > 0 {
		scoring = fmt.Sprintf("percentageOfNodesToScore %d%%", *scorePct)
	}
	fmt.Printf("kube-scheduler in-process, client QPS %d burst %d, %s; %d apps x %d executors (1 cpu, 1408Mi) per strategy; nodes 16 cpu, 64Gi, 110 pods\n\n", *qps, 2**qps, scoring, cfg.Apps, cfg.Executors)
	rows, err := placement.Run(ctx, cp, cfg)
	fmt.Println()
	placement.Print(os.Stdout, rows)
	if *plotFile != "" && len(rows) > 0 {
		title := "Placement throughput on kube-scheduler v1.36 (executors created while it runs)"
		if cfg.Backlog {
			title = "Placement throughput on kube-scheduler v1.36 (a backlog of executors)"
		}
		if cfg.Background > 0 {
			title += fmt.Sprintf(", %d pods per node", cfg.Background)
		}
		if perr := placement.Plot(rows, title, *plotFile); perr != nil {
			fmt.Fprintln(os.Stderr, "bench:", perr)
		} else {
			fmt.Println("plot:", *plotFile)
		}
	}
	if err != nil {
		stop()
		fail(err)
	}
}

func mainDeadlock(args []string) {
	fs := flag.NewFlagSet("deadlock", flag.ExitOnError)
	apps := fs.Int("apps", 100, "apps submitted at once (1-cpu driver + 4 1-cpu executors)")
	nodes := fs.Int("nodes", 50, "nodes of 5 cpu")
	duration := fs.Duration("duration", 20*time.Second, "an app's run once its executors are bound (one simulated minute)")
	timeout := fs.Duration("timeout", 0, "bound on each scheduler's run (default 2x the packing bound + 30s)")
	scheds := fs.String("schedulers", "default,sparkplane", "schedulers to run")
	timeline := fs.Duration("timeline", 0, "print drivers bound, apps running and apps finished per this interval (0: no timeline)")
	_ = fs.Parse(args)
	cfg := deadlock.Config{Apps: *apps, Nodes: *nodes, Duration: *duration, Timeout: *timeout, Log: os.Stdout, Bucket: *timeline}
	if *timeline > 0 {
		cfg.Timeline = os.Stdout
	}
	for _, s := range strings.Split(*scheds, ",") {
		cfg.Schedulers = append(cfg.Schedulers, strings.TrimSpace(s))
	}
	ctx := context.Background()
	cp, stop := startControlPlane(ctx)
	defer stop()
	rows, err := deadlock.Run(ctx, cp, cfg)
	fmt.Println()
	deadlock.Print(os.Stdout, cfg, rows)
	if err != nil {
		stop()
		fail(err)
	}
}
