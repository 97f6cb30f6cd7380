// Package autoscaled benchmarks placement on an autoscaled cluster: the
// same Spark apps, submitted together onto a local cluster with no nodes,
// where the real Karpenter (KWOK provider) launches a node for every pod
// that fits nowhere; once per strategy (default scheduler without the
// webhook, with it), each from zero nodes, side by side in one run. It
// reports the nodes launched, Karpenter's provisioning rounds per app, the
// time from submission to all executors running, node-seconds and their
// cost at the generated prices, cross-zone executor pairs and (with real
// Spark) cross-zone shuffle bytes.
package autoscaled

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/demo"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// Strategies.
const (
	// Off is the default scheduler without the webhook.
	Off = "off"
	// Webhook is the default scheduler with the sparkplane webhook.
	Webhook = "webhook"
	// Gang is the sparkplane scheduler with whole-gang scale-up: accepted,
	// not available yet (it comes with the issue "Whole-gang scale-up").
	Gang = "sparkplane"
)

// Modes.
const (
	// ModeSpark runs real PySpark jobs (driver and executor JVMs): every
	// column, shuffle bytes included.
	ModeSpark = "spark"
	// ModeSim runs simulated apps (sparksim) on nodes without kubelets
	// (--kubelet none): no shuffle bytes or job results; "running" is
	// "bound".
	ModeSim = "sim"
)

// Shapes of the apps' pods, the same in both modes: a lean driver and
// memory-heavy executors (spark.executor.memory=4g plus Spark's 10%
// overhead), the usual Spark shape. With the generated catalog they fit
// different families (c5 and m5), whose cheapest spot zones differ.
const (
	DriverCPU, DriverMemory     = "1", "896Mi"  // 512m heap + 384Mi overhead
	ExecutorCPU, ExecutorMemory = "1", "4506Mi" // 4g heap + 410Mi overhead
)

// Config configures Run.
type Config struct {
	// Apps submitted together per strategy; Executors per app.
	Apps, Executors int
	// Strategies in order (Off, Webhook, Gang).
	Strategies []string
	// Mode is ModeSpark or ModeSim.
	Mode string
	// Dir is the local cluster's directory (new or an earlier cluster's).
	Dir string
	// SimDuration is how long a simulated app runs once its executors are
	// bound; SimStartDelay how long its driver takes to ask for executors
	// once bound (a real driver starts a JVM first).
	SimDuration, SimStartDelay time.Duration
	// Timeout bounds one strategy: apps, then Karpenter removing every node.
	Timeout time.Duration
	// ConsolidateAfter is the NodePool's consolidateAfter (default
	// demo.ConsolidateAfter, 10s).
	ConsolidateAfter string
	// Karpenter is a built binary ("" builds or finds one, see
	// localcluster.BuildKarpenter).
	Karpenter string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Row is one strategy's outcome.
type Row struct {
	Strategy string
	// Skipped says why the strategy did not run ("" if it ran).
	Skipped string
	Apps    []App
	Nodes   demo.NodeUsage
	// Elapsed is from submission to the last node's removal.
	Elapsed time.Duration
}

// App is one app's outcome.
type App struct {
	Name string
	// Driver and Executors are where its pods ran (or were bound, in sim
	// mode).
	Driver    localcluster.Node
	Executors []localcluster.Node
	// Rounds are Karpenter's provisioning rounds that launched the nodes
	// its pods ran on.
	Rounds int
	// ToExecutors is from submission until its Executors-th executor was
	// running (zero: never).
	ToExecutors time.Duration
	// CrossZone counts executors outside the driver's zone.
	CrossZone int
	// Result is the job's answer (ModeSpark) or "done".
	Result string
	// RemoteBytes and CrossZoneBytes are shuffle bytes (ModeSpark).
	RemoteBytes, CrossZoneBytes int64
}

// Validate checks cfg; errors name the flag.
func (cfg Config) Validate() error {
	switch {
	case cfg.Apps < 1:
		return fmt.Errorf("-apps %d: at least 1", cfg.Apps)
	case cfg.Executors < 1:
		return fmt.Errorf("-executors %d: at least 1", cfg.Executors)
	case cfg.Mode != ModeSpark && cfg.Mode != ModeSim:
		return fmt.Errorf("-mode %q: use %s (real PySpark jobs) or %s (simulated apps, no kubelets)", cfg.Mode, ModeSpark, ModeSim)
	case len(cfg.Strategies) == 0:
		return fmt.Errorf("-strategies: give at least one of %s, %s, %s", Off, Webhook, Gang)
	case cfg.Dir == "":
		return fmt.Errorf("-dir: a cluster directory is needed")
	}
	for _, s := range cfg.Strategies {
		if s != Off && s != Webhook && s != Gang {
			return fmt.Errorf("-strategies: %q: use %s (default scheduler, no webhook), %s (with the sparkplane webhook) or %s (sparkplane scheduler with whole-gang scale-up)", s, Off, Webhook, Gang)
		}
	}
	return nil
}

// Run starts one autoscaled local cluster and runs the strategies on it in
// order, each from zero nodes. Rows come back for the strategies that ran
// before an error.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Minute
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	o := demo.AutoscaledOptions(cfg.Dir)
	o.Recreate, o.Log, o.Progress = true, klog.NewKlogr(), cfg.Log
	o.Karpenter.Binary = cfg.Karpenter
	if cfg.ConsolidateAfter != "" {
		o.Karpenter.NodePools[0].ConsolidateAfter = cfg.ConsolidateAfter
	}
	if cfg.Mode == ModeSim {
		o.Kubelet = localcluster.KubeletNone
	}
	c, err := localcluster.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	step := func(format string, args ...any) { logf("  "+format, args...) }
	watch := demo.WatchNodes(c, step)
	defer watch.Stop()

	var app string
	if cfg.Mode == ModeSpark {
		if app, err = c.WriteShuffleJob(); err != nil {
			return nil, err
		}
	}
	var rows []Row
	for i, s := range cfg.Strategies {
		if s == Gang {
			logf("strategy %s: not available yet (the sparkplane scheduler's whole-gang scale-up is the issue \"Whole-gang scale-up\"); skipped", s)
			rows = append(rows, Row{Strategy: s, Skipped: "not available yet (issue \"Whole-gang scale-up\")"})
			continue
		}
		if err := setWebhook(ctx, c, s == Webhook); err != nil {
			return rows, err
		}
		if err := demo.WaitNoNodes(ctx, c, cfg.Timeout, step); err != nil {
			return rows, err
		}
		logf("strategy %s: %d apps x %d executors from zero nodes (%s) ...", s, cfg.Apps, cfg.Executors, cfg.Mode)
		sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		row, err := runStrategy(sctx, c, cfg, s, fmt.Sprintf("s%d-%s", i+1, s), app, step)
		cancel()
		if err != nil {
			return rows, fmt.Errorf("strategy %s: %w", s, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func setWebhook(ctx context.Context, c *localcluster.Cluster, on bool) error {
	if on {
		return c.EnableWebhook(ctx)
	}
	// Nothing to remove on a cluster started without it.
	_, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, localcluster.WebhookConfigurationName, metaGet)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading the webhook registration: %w", err)
	}
	return c.DisableWebhook(ctx)
}

// runStrategy submits the apps together, waits for them to end and for
// Karpenter to remove every node, and reads what happened.
func runStrategy(ctx context.Context, c *localcluster.Cluster, cfg Config, strategy, prefix, app string, step func(string, ...any)) (Row, error) {
	tr, err := track(ctx, c.Client)
	if err != nil {
		return Row{}, err
	}
	defer tr.stop()
	began := time.Now()
	apps := make([]App, cfg.Apps)
	nss := make([]string, cfg.Apps)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Apps)
	for i := range apps {
		nss[i] = fmt.Sprintf("%s-%d", prefix, i+1)
		apps[i].Name = nss[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Mode == ModeSpark {
				apps[i], errs[i] = runSpark(ctx, c, cfg, nss[i], app)
			} else {
				apps[i], errs[i] = runSim(ctx, c, cfg, nss[i])
			}
			apps[i].Name = nss[i]
			step("app %s: %s", nss[i], apps[i].Result)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Row{}, err
	}
	if err := demo.WaitNoNodes(ctx, c, cfg.Timeout, step); err != nil {
		return Row{}, err
	}
	elapsed := time.Since(began)
	launched := demo.Launched(c.AllNodes(), began, time.Time{})
	rounds, err := ReadRounds(c.KarpenterLog())
	if err != nil {
		step("reading Karpenter's provisioning rounds: %v", err)
	}
	nodes := map[string]localcluster.Node{}
	for _, n := range c.AllNodes() {
		nodes[n.Name] = n
	}
	for i := range apps {
		a := &apps[i]
		pods := tr.pods(nss[i])
		var used []string
		var execRunning []time.Time
		a.Executors = nil
		for _, p := range pods {
			if p.node == "" {
				continue
			}
			used = append(used, p.node)
			if p.role == "driver" {
				a.Driver = nodes[p.node]
				continue
			}
			t := p.running
			if cfg.Mode == ModeSim {
				t = p.bound
			}
			if t.IsZero() {
				continue
			}
			a.Executors = append(a.Executors, nodes[p.node])
			execRunning = append(execRunning, t)
		}
		for _, n := range a.Executors {
			if n.Zone != a.Driver.Zone {
				a.CrossZone++
			}
		}
		slices.SortFunc(execRunning, func(x, y time.Time) int { return x.Compare(y) })
		if len(execRunning) >= cfg.Executors {
			a.ToExecutors = execRunning[cfg.Executors-1].Sub(tr.submitted(nss[i], began))
		}
		a.Rounds = rounds.Count(used, nodes)
	}
	return Row{Strategy: strategy, Apps: apps, Nodes: demo.Usage(launched, c.Catalog(), time.Now()), Elapsed: elapsed}, nil
}

// SparkArgs are the benchmark job's spark-submit arguments: the demo's
// shuffle job (one phase of 8 tasks of 2 s, 400k records shuffled) with a
// fixed number of executors, so "all executors running" means one thing.
func SparkArgs(name, app string, executors int) []string {
	confs := []string{
		"spark.driver.memory=512m", "spark.executor.memory=4g", "spark.executor.cores=1",
		"spark.ui.enabled=false", "spark.dynamicAllocation.enabled=false",
		fmt.Sprintf("spark.executor.instances=%d", executors),
		"spark.kubernetes.allocation.batch.delay=500ms",
	}
	args := []string{"--name", name}
	for _, c := range confs {
		args = append(args, "--conf", c)
	}
	return append(args, app, "1", "8", "2", "0", "400000")
}

func runSpark(ctx context.Context, c *localcluster.Cluster, cfg Config, ns, app string) (App, error) {
	run, err := c.Run(ctx, localcluster.Job{Namespace: ns, Args: SparkArgs("bench", app, cfg.Executors)})
	if err != nil {
		return App{}, err
	}
	s, err := demo.Summarize(c, ns, run)
	if err != nil {
		klog.Background().Error(err, "reading the event log", "namespace", ns)
	}
	return App{Result: s.Result, RemoteBytes: s.Shuffle.RemoteBytesRead, CrossZoneBytes: s.Shuffle.CrossZoneBytes}, nil
}

func runSim(ctx context.Context, c *localcluster.Cluster, cfg Config, ns string) (App, error) {
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, namespace(ns), metaCreate); err != nil {
		return App{}, fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	d, err := sparksim.Submit(ctx, c.Client, sparksim.App{
		Namespace: ns, Name: "bench", Executors: cfg.Executors, BatchDelay: 500 * time.Millisecond,
		DriverCPU: DriverCPU, DriverMemory: DriverMemory, ExecutorCPU: ExecutorCPU, ExecutorMemory: ExecutorMemory,
		StartDelay: cfg.SimStartDelay, Duration: cfg.SimDuration,
	})
	if err != nil {
		return App{}, err
	}
	select {
	case <-d.Done():
		d.Stop()
		return App{Result: "done"}, nil
	case <-ctx.Done():
		_ = d.Delete(context.WithoutCancel(ctx))
		return App{}, fmt.Errorf("app %s did not finish (%d executors asked for, error %v): %w", ns, d.Created(), d.Err(), ctx.Err())
	}
}

// Print writes the table: one row per strategy, ratios against the first
// strategy that ran.
func Print(w io.Writer, cfg Config, rows []Row) {
	tw := newTable(w)
	fmt.Fprintln(tw, "strategy\tapps ok\tnodes launched (zone/capacity)\tinstance types\tprovisioning rounds per app (mean, max)\tsubmit -> all executors (median, max)\tnode-seconds\tvs first\tvCPU-seconds\tnode cost\tvs first\tcross-zone executor pairs\tshuffle remote\tof it cross-zone\tdrivers on-demand\texecutors on spot\t")
	var base *Row
	for i := range rows {
		r := rows[i]
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", Describe(r.Strategy), r.Skipped)
			continue
		}
		if base == nil {
			base = &rows[i]
		}
		var ok, rounds, maxRounds, pairs, cross, drvOD, execs, execSpot int
		var remote, crossBytes int64
		var waits []time.Duration
		for _, a := range r.Apps {
			if a.Result == "correct" || a.Result == "done" {
				ok++
			}
			rounds += a.Rounds
			maxRounds = max(maxRounds, a.Rounds)
			pairs += len(a.Executors)
			cross += a.CrossZone
			remote += a.RemoteBytes
			crossBytes += a.CrossZoneBytes
			if a.Driver.Capacity == "on-demand" {
				drvOD++
			}
			for _, e := range a.Executors {
				execs++
				if e.Capacity == "spot" {
					execSpot++
				}
			}
			if a.ToExecutors > 0 {
				waits = append(waits, a.ToExecutors)
			}
		}
		med, mx := "-", "-"
		if len(waits) > 0 {
			slices.Sort(waits)
			med, mx = waits[len(waits)/2].Round(100*time.Millisecond).String(), waits[len(waits)-1].Round(100*time.Millisecond).String()
		}
		shuffle, shuffleCross := "-", "-"
		if cfg.Mode == ModeSpark {
			shuffle, shuffleCross = mbs(remote), mbs(crossBytes)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%.1f, %d\t%s, %s\t%.0f\t%.2fx\t%.0f\t$%.4f\t%.2fx\t%d of %d\t%s\t%s\t%d/%d\t%d/%d\t\n",
			Describe(r.Strategy), ok, len(r.Apps), r.Nodes.ByZone, r.Nodes.ByType, float64(rounds)/float64(max(len(r.Apps), 1)), maxRounds,
			med, mx, r.Nodes.NodeSeconds, ratio(r.Nodes.NodeSeconds, base.Nodes.NodeSeconds), r.Nodes.VCPUSeconds, r.Nodes.Cost, ratio(r.Nodes.Cost, base.Nodes.Cost),
			cross, pairs, shuffle, shuffleCross, drvOD, len(r.Apps), execSpot, execs)
	}
	_ = tw.Flush()
}

// Describe names a strategy for the table.
func Describe(s string) string {
	switch s {
	case Off:
		return "default scheduler, no webhook"
	case Webhook:
		return "default scheduler + sparkplane webhook"
	case Gang:
		return "sparkplane scheduler, whole-gang scale-up"
	}
	return s
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func mbs(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
