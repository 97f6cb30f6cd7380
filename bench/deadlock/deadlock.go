// Package deadlock measures the over-subscribed cluster of the scheduler
// tests at a larger scale: many Spark apps (a 1-cpu driver and 1-cpu
// executors, simulated drivers that finish a set time after all their
// executors run) submitted at once to a cluster with room for a fraction
// of them, on the stock scheduler and on the sparkplane scheduler.
package deadlock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkplane/sparkplane/bench/benchkit"
	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// Config sizes a run.
type Config struct {
	Apps      int           // apps submitted at once
	Nodes     int           // nodes of NodeCPU cpu each
	NodeCPU   int           // default 5: one app of 1 driver + 4 executors
	Executors int           // executors per app (default 4)
	Duration  time.Duration // an app's run once all its executors are bound: one simulated minute
	// StartDelay is how long a bound driver takes to ask for its first
	// executor, BatchDelay the time between its requests (one executor
	// each); defaults 300ms and 500ms.
	StartDelay, BatchDelay time.Duration
	// Timeout bounds each scheduler's run (default: 2x the packing bound
	// plus 30s).
	Timeout time.Duration
	// Schedulers to run: "default", "sparkplane" (default: both).
	Schedulers []string
	Metrics    *scheduler.Metrics
	Log        io.Writer
	// Timeline, when set, receives per-scheduler counts of drivers bound,
	// apps running (all executors bound) and apps finished per Bucket.
	Timeline io.Writer
	Bucket   time.Duration
}

// Row is one scheduler's outcome.
type Row struct {
	Scheduler    string
	Apps         int
	Completed    int
	Makespan     time.Duration // submission to last completion (or timeout)
	Bound        time.Duration // ideal packing bound: total work / capacity
	PerSimMinute float64       // apps completed per simulated minute (Duration)
	OverBound    float64       // Makespan / Bound (0 when not all completed)
	TimedOut     bool
	FirstRunning time.Duration // submission to the first app with all its executors bound (ramp-up)
	DriversBound int           // at the end (or timeout)
	ExecsBound   int           // live executors bound at the timeout (deadlock evidence)
}

func (c *Config) defaults() {
	if c.NodeCPU == 0 {
		c.NodeCPU = 5
	}
	if c.Executors == 0 {
		c.Executors = 4
	}
	if c.Duration == 0 {
		c.Duration = 20 * time.Second
	}
	if c.StartDelay == 0 {
		c.StartDelay = 300 * time.Millisecond
	}
	if c.BatchDelay == 0 {
		c.BatchDelay = 500 * time.Millisecond
	}
	if len(c.Schedulers) == 0 {
		c.Schedulers = []string{"default", "sparkplane"}
	}
}

// PackingBound is total work over capacity: each app holds 1+Executors cpu
// for Duration. Capacity is counted in whole gangs per node (fragments
// smaller than a gang cannot run an app).
func (c Config) PackingBound() time.Duration {
	gang := 1 + c.Executors
	perNode := c.NodeCPU / gang
	slots := float64(perNode * c.Nodes)
	if perNode == 0 {
		slots = float64(c.NodeCPU*c.Nodes) / float64(gang)
	}
	return time.Duration(math.Ceil(float64(c.Apps)/slots) * float64(c.Duration))
}

// Ramp is the time an app spends asking for its executors once its driver
// runs, one per round (StartDelay, then a BatchDelay between requests):
// the app's own, the same under any scheduler.
func (c Config) Ramp() time.Duration {
	return c.StartDelay + time.Duration(c.Executors-1)*c.BatchDelay
}

// Run measures each scheduler on cp (its own scheduler process with raised
// client limits; nodes created here and deleted at the end).
func Run(ctx context.Context, cp *controlplane.ControlPlane, cfg Config) (rows []Row, retErr error) {
	cfg.defaults()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2*cfg.PackingBound() + 30*time.Second
	}
	logf := benchkit.Logf(cfg.Log)
	client, sched, err := benchkit.StartSchedulers(ctx, cp, 5000, 10000, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	defer func() { retErr = errors.Join(retErr, sched.Stop()) }()

	prefix := fmt.Sprintf("dl-%d", time.Now().UnixNano()%100000)
	labels := v1alpha1.Default().Provider.NodeLabels(v1alpha1.CapacityOnDemand)
	var nodes []string
	defer func() {
		for _, n := range nodes {
			_ = client.CoreV1().Nodes().Delete(context.WithoutCancel(ctx), n, metav1.DeleteOptions{})
		}
	}()
	for i := range cfg.Nodes {
		name := fmt.Sprintf("%s-node-%03d", prefix, i)
		if _, err := cp.CreateNode(ctx, controlplane.NodeSpec{Name: name, Zone: "zone-a", CPU: fmt.Sprint(cfg.NodeCPU), Memory: "256Gi", Labels: labels}); err != nil {
			return nil, err
		}
		nodes = append(nodes, name)
	}
	time.Sleep(2 * time.Second) // the scheduler's node informer
	logf("%d nodes of %d cpu; %d apps of 1+%d cpu, %s each; packing bound %s", cfg.Nodes, cfg.NodeCPU, cfg.Apps, cfg.Executors, cfg.Duration, cfg.PackingBound())

	for _, s := range cfg.Schedulers {
		name := scheduler.DefaultSchedulerName
		switch s {
		case "default":
		case "sparkplane":
			name = scheduler.SchedulerName
		default:
			return rows, fmt.Errorf("unknown scheduler %q (want default or sparkplane)", s)
		}
		r, err := runOne(ctx, client, cfg, s, name)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", s, err)
		}
		logf("  %s: %d/%d apps in %s", s, r.Completed, r.Apps, r.Makespan.Round(time.Second))
		rows = append(rows, r)
	}
	return rows, nil
}

func runOne(ctx context.Context, client kubernetes.Interface, cfg Config, label, schedName string) (Row, error) {
	row := Row{Scheduler: label, Apps: cfg.Apps, Bound: cfg.PackingBound()}
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "dl-" + label + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return row, err
	}
	defer benchkit.CleanupNamespace(context.WithoutCancel(ctx), client, ns.Name)

	start := time.Now()
	var drivers []*sparksim.Driver
	defer func() {
		for _, d := range drivers {
			d.Stop()
		}
	}()
	// All apps are submitted at once, as by many users: 16 concurrent
	// spark-submits, so the submission burst itself takes little time.
	drivers = make([]*sparksim.Driver, cfg.Apps)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range cfg.Apps {
		app := sparksim.App{
			Namespace: ns.Name, Name: fmt.Sprintf("app-%03d", i), Executors: cfg.Executors,
			DriverCPU: "1", DriverMemory: "1Gi", ExecutorCPU: "1", ExecutorMemory: "1Gi",
			// One executor per request round, as in the scheduler tests,
			// so running drivers compete for the room left.
			BatchSize: 1, BatchDelay: cfg.BatchDelay, StartDelay: cfg.StartDelay,
			Duration: cfg.Duration, SchedulerName: schedName,
		}
		g.Go(func() error {
			d, err := sparksim.Submit(gctx, client, app)
			drivers[i] = d
			return err
		})
	}
	err = g.Wait()
	drivers = slices.DeleteFunc(drivers, func(d *sparksim.Driver) bool { return d == nil })
	if err != nil {
		return row, err
	}
	benchkit.Logf(cfg.Log)("  %s: %d apps submitted in %s", label, cfg.Apps, time.Since(start).Round(100*time.Millisecond))

	deadline := time.After(cfg.Timeout)
	var mu sync.Mutex
	last := start
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range drivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-d.Done():
				mu.Lock()
				row.Completed++
				if f := d.Finished(); f.After(last) {
					last = f
				}
				mu.Unlock()
			case <-done:
			}
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-deadline:
		row.TimedOut = true
		close(done)
		<-all
		last = time.Now()
	case <-ctx.Done():
		close(done)
		<-all
		return row, ctx.Err()
	}
	row.Makespan = last.Sub(start)
	for _, d := range drivers {
		if st := d.Started(); !st.IsZero() && (row.FirstRunning == 0 || st.Sub(start) < row.FirstRunning) {
			row.FirstRunning = st.Sub(start)
		}
	}
	if cfg.Timeline != nil {
		printTimeline(cfg, label, start, drivers)
	}
	row.PerSimMinute = float64(row.Completed) / (row.Makespan.Seconds() / cfg.Duration.Seconds())
	if row.Completed == row.Apps {
		row.OverBound = row.Makespan.Seconds() / row.Bound.Seconds()
	}
	if row.TimedOut {
		pods, err := client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range pods.Items {
				if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded {
					continue
				}
				if strings.HasSuffix(p.Name, "-driver") {
					row.DriversBound++
				} else {
					row.ExecsBound++
				}
			}
		}
	}
	return row, nil
}

// Print writes rows as a table.
func Print(out io.Writer, cfg Config, rows []Row) {
	cfg.defaults()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scheduler\tapps\tcompleted\tmakespan\tpacking bound\tmakespan/bound\tapps per sim. minute\tfirst app running after\tat the end")
	for _, r := range rows {
		over, end := "-", "all done"
		if r.OverBound > 0 {
			over = fmt.Sprintf("%.2fx", r.OverBound)
		}
		if r.TimedOut {
			end = fmt.Sprintf("timed out: %d drivers and %d executors holding cpu", r.DriversBound, r.ExecsBound)
		}
		first := "never"
		if r.FirstRunning > 0 {
			first = r.FirstRunning.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%.2f\t%s\t%s\n", r.Scheduler, r.Apps, r.Completed, r.Makespan.Round(100*time.Millisecond),
			r.Bound.Round(100*time.Millisecond), over, r.PerSimMinute, first, end)
	}
	tw.Flush()
	fmt.Fprintf(out, "\none simulated minute = an app's run time once all its executors are bound (%s)\n", cfg.Duration)
	waves := math.Round(cfg.PackingBound().Seconds() / cfg.Duration.Seconds())
	withRamp := time.Duration(waves) * (cfg.Duration + cfg.Ramp())
	fmt.Fprintf(out, "each app also takes %s to ask for its %d executors one at a time; counting that, the bound is %s", cfg.Ramp(), cfg.Executors, withRamp.Round(100*time.Millisecond))
	for _, r := range rows {
		if r.Completed == r.Apps && !r.TimedOut {
			fmt.Fprintf(out, "; %s %.2fx of it", r.Scheduler, r.Makespan.Seconds()/withRamp.Seconds())
		}
	}
	fmt.Fprintln(out)
}

// printTimeline shows when drivers were bound, apps started running and
// apps finished, per bucket since submission: where a makespan's time went.
func printTimeline(cfg Config, label string, start time.Time, drivers []*sparksim.Driver) {
	bucket := cfg.Bucket
	if bucket <= 0 {
		bucket = 2 * time.Second
	}
	type counts struct{ bound, started, finished int }
	var rows []counts
	add := func(t time.Time, f func(*counts)) {
		if t.IsZero() {
			return
		}
		i := int(t.Sub(start) / bucket)
		for len(rows) <= i {
			rows = append(rows, counts{})
		}
		f(&rows[i])
	}
	for _, d := range drivers {
		add(d.Bound(), func(c *counts) { c.bound++ })
		add(d.Started(), func(c *counts) { c.started++ })
		add(d.Finished(), func(c *counts) { c.finished++ })
	}
	tw := tabwriter.NewWriter(cfg.Timeline, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s: since submission\tdrivers bound\tapps running\tapps finished\t\n", label)
	for i, c := range rows {
		fmt.Fprintf(tw, "%s-%s\t%d\t%d\t%d\t\n", time.Duration(i)*bucket, time.Duration(i+1)*bucket, c.bound, c.started, c.finished)
	}
	tw.Flush()
}
