// Package placement measures what zone pinning and gang scheduling cost the
// real kube-scheduler: Spark-shaped pods on hollow nodes (no kubelet) in
// three zones, drivers bound first and executors created after, as Spark
// does, under several placement strategies in the same run.
package placement

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	kscheduler "k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/bench/benchkit"
	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	pl "github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

// Strategies, in the order they run.
const (
	Unconstrained = "a"  // executors without constraints
	NodeSelector  = "b"  // executors (and drivers) with a hard-coded zone nodeSelector
	PodAffinity   = "c"  // per-run label + required pod affinity to the driver, topologyKey zone
	Pinned        = "d"  // executors required to the driver's zone, as placement.Decide writes it
	Gang          = "e"  // sparkplane scheduler (SparkGang) with gangs, executors pinned as in (d)
	WebhookPinned = "d+" // (d) through the real webhook registered with the API server
)

// AllStrategies is the default set.
var AllStrategies = []string{Unconstrained, NodeSelector, PodAffinity, Pinned, Gang, WebhookPinned}

// Describe names a strategy in the table.
func Describe(s string) string {
	switch s {
	case Unconstrained:
		return "(a) unconstrained"
	case NodeSelector:
		return "(b) zone nodeSelector"
	case PodAffinity:
		return "(c) pod affinity to driver (zone)"
	case Pinned:
		return "(d) sparkplane pinning (Decide)"
	case Gang:
		return "(e) sparkplane scheduler, gangs"
	case WebhookPinned:
		return "(d) sparkplane pinning (real webhook)"
	}
	return s
}

// Zones the hollow nodes are spread over.
var Zones = []string{"zone-a", "zone-b", "zone-c"}

// Config sizes a run.
type Config struct {
	Nodes      []int    // cluster sizes, ascending; nodes are added between sizes
	Apps       int      // Spark apps per strategy
	Executors  int      // executors per app
	Strategies []string // subset of AllStrategies
	// QPS and Burst of the scheduler's and the bench's clients.
	QPS   float32
	Burst int
	// Timeout bounds one strategy at one size.
	Timeout time.Duration
	// Metrics for the sparkplane scheduler (nil: a fresh, unregistered set).
	Metrics *scheduler.Metrics
	// Warmup runs (a) once, unreported, after nodes are added: the first
	// batch after thousands of node events is slower than the rest.
	Warmup bool
	// Log receives progress lines (nil: none).
	Log io.Writer
	// Background is the number of pods already running on every node
	// (other apps' executors: small requests, bound directly), as on a busy
	// cluster. Required pod affinity is evaluated against every such pod.
	Background int
	// Backlog measures the scheduler alone: the scheduler is stopped while
	// the executors are created and started again once they all exist, and
	// pods/s is over the span from the first executor bound to the last.
	// Without it, executors are created as fast as the API server takes
	// them while the scheduler runs (the online mode): creation and
	// scheduling share the CPU, and latency is creation to bound.
	Backlog bool
	// ProfileDir, when set, receives a CPU profile of this process (API
	// server, etcd and scheduler alike) per strategy and size, taken while
	// the executors are scheduled.
	ProfileDir string
	// ScorePercent, when not 0, is the scheduler's percentageOfNodesToScore
	// (default: kube-scheduler's adaptive one, 42% at 1,000 nodes). 100
	// makes every strategy filter every node, as a zone-restricted pod
	// always does, which isolates that cost.
	ScorePercent int32
}

// schedulerOptions are the kube-scheduler options the run's configuration asks for.
func (c Config) schedulerOptions() []kscheduler.Option {
	if c.ScorePercent == 0 {
		return nil
	}
	return []kscheduler.Option{kscheduler.WithPercentageOfNodesToScore(ptr.To(c.ScorePercent))}
}

// Row is one strategy at one cluster size.
type Row struct {
	Nodes      int
	Strategy   string
	Executors  int           // created
	Bound      int           // bound within the timeout
	Wall       time.Duration // first executor creation to last bound
	CreateWall time.Duration // first executor creation to last creation answered
	PodsPerSec float64
	P50, P99   time.Duration
	Ratio      float64 // pods/s over the mean of (a)'s at the same size; 0 without (a)
	Limit      string  // what bound the figure
}

// Run measures every strategy at every size on cp, starting its own
// scheduler (stock profile and sparkplane profile in one kube-scheduler)
// with raised client limits, and stops it at the end. Nodes it creates are
// deleted at the end.
func Run(ctx context.Context, cp *controlplane.ControlPlane, cfg Config) (rows []Row, retErr error) {
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 5000, 10000
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if len(cfg.Strategies) == 0 {
		cfg.Strategies = AllStrategies
	}
	for _, s := range cfg.Strategies {
		if !slices.Contains(AllStrategies, s) {
			return nil, fmt.Errorf("unknown strategy %q (want some of %s)", s, strings.Join(AllStrategies, ","))
		}
	}
	// Run in the order given (a strategy may repeat, to see drift), the
	// webhook rows last, as its registration would otherwise touch the
	// others.
	var order, last []string
	for _, s := range cfg.Strategies {
		if s == WebhookPinned {
			last = append(last, s)
		} else {
			order = append(order, s)
		}
	}
	order = append(order, last...)
	sizes := slices.Clone(cfg.Nodes)
	slices.Sort(sizes)
	logf := benchkit.Logf(cfg.Log)
	client, sched, err := benchkit.StartSchedulers(ctx, cp, cfg.QPS, cfg.Burst, cfg.Metrics, cfg.schedulerOptions()...)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		cfg.Metrics = scheduler.NewMetrics() // one set across restarts
	}
	sc := &schedulers{cp: cp, cfg: cfg, run: sched}
	defer func() { retErr = errors.Join(retErr, sc.stop()) }()

	var nodeNames []string
	defer func() {
		for _, n := range nodeNames {
			_ = client.CoreV1().Nodes().Delete(context.WithoutCancel(ctx), n, metav1.DeleteOptions{})
		}
	}()
	if cfg.Background > 0 {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: backgroundNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
		defer benchkit.CleanupNamespace(context.WithoutCancel(ctx), client, backgroundNamespace)
	}
	prefix := fmt.Sprintf("bench-%d", time.Now().UnixNano()%100000)
	for _, size := range sizes {
		start := time.Now()
		names, err := createNodes(ctx, cp, prefix, len(nodeNames), size)
		nodeNames = append(nodeNames, names...)
		if err != nil {
			return rows, err
		}
		if cfg.Background > 0 {
			bgStart := time.Now()
			if err := createBackground(ctx, client, names, cfg.Background); err != nil {
				return rows, fmt.Errorf("background pods: %w", err)
			}
			logf("%d background pods (%d per node) in %s", cfg.Background*len(names), cfg.Background, time.Since(bgStart).Round(time.Millisecond))
		}
		// Let the scheduler's node informer catch up with the new nodes.
		time.Sleep(2 * time.Second)
		logf("%d nodes ready in %s", size, time.Since(start).Round(time.Millisecond))
		if cfg.Warmup {
			r, err := runStrategy(ctx, cp, client, sc, cfg, Unconstrained, size)
			if err != nil {
				return rows, fmt.Errorf("warm-up at %d nodes: %w", size, err)
			}
			logf("  warm-up (a), not reported: %.1f pods/s", r.PodsPerSec)
		}
		first := len(rows)
		for _, s := range order {
			r, err := runStrategy(ctx, cp, client, sc, cfg, s, size)
			if err != nil {
				return rows, fmt.Errorf("strategy %s at %d nodes: %w", s, size, err)
			}
			r.Limit = limit(r, cfg)
			logf("  %-40s %4d/%d bound, %7.1f pods/s, p50 %s, p99 %s", Describe(s), r.Bound, r.Executors, r.PodsPerSec, r.P50, r.P99)
			rows = append(rows, r)
		}
		// Ratios are to the mean of the (a) rows at this size.
		var base float64
		var n int
		for _, r := range rows[first:] {
			if r.Strategy == Unconstrained {
				base += r.PodsPerSec
				n++
			}
		}
		if n > 0 && base > 0 {
			base /= float64(n)
			for i := first; i < len(rows); i++ {
				rows[i].Ratio = rows[i].PodsPerSec / base
			}
		}
	}
	return rows, nil
}

// limit says what bound a figure: one binding call per pod against the
// client's QPS; else CPU (scheduler, API server, etcd and the bench share
// the machine's cores), with the scheduler keeping up with creation when
// the last executor was bound within 10% of the wall time after the last
// creation answered, else falling behind it.
func limit(r Row, cfg Config) string {
	switch {
	case r.Bound < r.Executors:
		return "timeout"
	case r.PodsPerSec >= 0.8*float64(cfg.QPS):
		return "client QPS"
	case r.Wall-r.CreateWall <= r.Wall/10:
		return "CPU; scheduler kept up"
	}
	return "CPU; scheduler behind"
}

func createNodes(ctx context.Context, cp *controlplane.ControlPlane, prefix string, from, to int) ([]string, error) {
	labels := v1alpha1.Default().Provider.NodeLabels(v1alpha1.CapacityOnDemand)
	var (
		mu    sync.Mutex
		names []string
		errs  []error
		wg    sync.WaitGroup
	)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := fmt.Sprintf("%s-node-%05d", prefix, i)
				_, err := cp.CreateNode(ctx, controlplane.NodeSpec{Name: name, Zone: Zones[i%len(Zones)], CPU: "16", Memory: "64Gi", Labels: labels})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					names = append(names, name)
				}
				mu.Unlock()
			}
		}()
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return names, errors.Join(errs...)
}

// watcher records when each pod of a namespace was first seen bound.
type watcher struct {
	mu    sync.Mutex
	bound map[string]time.Time
	node  map[string]string
	stop  chan struct{}
	f     informers.SharedInformerFactory
}

func watch(client kubernetes.Interface, ns string) (*watcher, error) {
	w := &watcher{bound: map[string]time.Time{}, node: map[string]string{}, stop: make(chan struct{})}
	w.f = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	see := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return
		}
		now := time.Now()
		w.mu.Lock()
		if _, ok := w.bound[p.Name]; !ok {
			w.bound[p.Name], w.node[p.Name] = now, p.Spec.NodeName
		}
		w.mu.Unlock()
	}
	if _, err := w.f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: see, UpdateFunc: func(_, o any) { see(o) },
	}); err != nil {
		return nil, err
	}
	w.f.Start(w.stop)
	w.f.WaitForCacheSync(w.stop)
	return w, nil
}

func (w *watcher) close() { close(w.stop); w.f.Shutdown() }

func (w *watcher) boundAt(name string) (time.Time, string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.bound[name]
	return t, w.node[name], ok
}

func (w *watcher) countBound(names []string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, name := range names {
		if _, ok := w.bound[name]; ok {
			n++
		}
	}
	return n
}

// schedulers stops and starts the bench's scheduler (backlog mode).
type schedulers struct {
	cp  *controlplane.ControlPlane
	cfg Config
	run *scheduler.Running
}

func (s *schedulers) stop() error {
	if s.run == nil {
		return nil
	}
	err := s.run.Stop()
	s.run = nil
	return err
}

func (s *schedulers) start(ctx context.Context) error {
	if s.run != nil {
		return nil
	}
	_, run, err := benchkit.StartSchedulers(ctx, s.cp, s.cfg.QPS, s.cfg.Burst, s.cfg.Metrics, s.cfg.schedulerOptions()...)
	s.run = run
	return err
}

func runStrategy(ctx context.Context, cp *controlplane.ControlPlane, client kubernetes.Interface, sc *schedulers, cfg Config, strategy string, size int) (Row, error) {
	row := Row{Nodes: size, Strategy: strategy}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	nsObj, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-" + strings.ReplaceAll(strategy, "+", "w") + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return row, err
	}
	ns := nsObj.Name
	defer benchkit.CleanupNamespace(context.WithoutCancel(ctx), client, ns)

	w, err := watch(client, ns)
	if err != nil {
		return row, err
	}
	defer w.close()

	// Zone pinning alone: the capacity-type rules (a preferred spot term on
	// executors by default) are off, so (d) and (e) differ from (a) only in
	// keeping executors in their driver's zone.
	placeCfg := v1alpha1.Default()
	placeCfg.Executor.Mode = v1alpha1.ModeOff
	if strategy == WebhookPinned {
		stop, err := startWebhook(ctx, cp, placeCfg)
		if err != nil {
			return row, err
		}
		defer stop()
	}

	schedName := scheduler.DefaultSchedulerName
	if strategy == Gang {
		schedName = scheduler.SchedulerName
	}
	apps := make([]sparksim.App, cfg.Apps)
	for i := range apps {
		runID := fmt.Sprintf("run-%d", i)
		zone := Zones[i%len(Zones)]
		app := sparksim.App{Namespace: ns, Name: fmt.Sprintf("app-%d", i), Executors: cfg.Executors, SchedulerName: schedName}
		switch strategy {
		case NodeSelector:
			sel := func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: zone} }
			app.DriverTemplate, app.ExecutorTemplate = sel, sel
		case PodAffinity:
			app.DriverTemplate = func(p *corev1.Pod) { p.Labels["run-id"] = runID }
			app.ExecutorTemplate = func(p *corev1.Pod) {
				p.Labels["run-id"] = runID
				p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"run-id": runID, "spark-role": "driver"}},
						TopologyKey:   corev1.LabelTopologyZone,
					}},
				}}
			}
		}
		apps[i] = app
	}

	// Drivers first (with their spark.properties, which the gang
	// scheduler reads), all bound before any executor exists.
	drivers := make([]*corev1.Pod, len(apps))
	if err := parallel(ctx, len(apps), func(i int) error {
		p, err := client.CoreV1().Pods(ns).Create(ctx, sparksim.DriverPod(apps[i]), metav1.CreateOptions{})
		if err != nil {
			return err
		}
		drivers[i] = p
		_, err = client.CoreV1().ConfigMaps(ns).Create(ctx, sparksim.ConfMap(apps[i]), metav1.CreateOptions{})
		return err
	}); err != nil {
		return row, fmt.Errorf("creating drivers: %w", err)
	}
	driverNames := make([]string, len(drivers))
	for i, d := range drivers {
		driverNames[i] = d.Name
	}
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		return w.countBound(driverNames) == len(driverNames), nil
	}); err != nil {
		return row, fmt.Errorf("drivers bound: %d of %d: %w", w.countBound(driverNames), len(driverNames), err)
	}
	nodeZones := &zones{client: client, m: map[string]string{}}
	zoneOf := map[string]string{}
	for i, d := range drivers {
		_, node, _ := w.boundAt(d.Name)
		d.Spec.NodeName = node
		zoneOf[node] = nodeZones.of(ctx, node)
		drivers[i] = d
	}

	// Executors, built before the clock starts.
	var pods []*corev1.Pod
	for i, app := range apps {
		for id := 1; id <= app.Executors; id++ {
			p := sparksim.ExecutorPod(app, drivers[i], id)
			if strategy == Pinned || strategy == Gang {
				d := pl.Decide(pl.Input{Pod: p, Config: placeCfg, Driver: &pl.DriverInfo{
					Name: drivers[i].Name, Via: "ownerReference", NodeName: drivers[i].Spec.NodeName, Zone: zoneOf[drivers[i].Spec.NodeName],
				}})
				if d.Pod == nil || d.ZoneOutcome != pl.ZoneRequired {
					return row, fmt.Errorf("placement.Decide did not pin %s: %s %s", p.Name, d.Denied, d.Explanation())
				}
				p = d.Pod
			}
			pods = append(pods, p)
		}
	}
	row.Executors = len(pods)
	if cfg.Backlog {
		if err := sc.stop(); err != nil {
			return row, fmt.Errorf("stopping the scheduler: %w", err)
		}
	}
	created := make([]time.Time, len(pods))
	start := time.Now()
	stopProfile := func() {}
	if !cfg.Backlog {
		if stopProfile, err = profile(cfg.ProfileDir, size, strategy); err != nil {
			return row, err
		}
	}
	if err := parallel(ctx, len(pods), func(i int) error {
		created[i] = time.Now()
		_, err := client.CoreV1().Pods(ns).Create(ctx, pods[i], metav1.CreateOptions{})
		return err
	}); err != nil {
		stopProfile()
		return row, fmt.Errorf("creating executors: %w", err)
	}
	row.CreateWall = time.Since(start)
	if cfg.Backlog {
		if stopProfile, err = profile(cfg.ProfileDir, size, strategy); err != nil {
			return row, err
		}
		if err := sc.start(ctx); err != nil {
			stopProfile()
			return row, fmt.Errorf("starting the scheduler: %w", err)
		}
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	waitErr := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
		return w.countBound(names) == len(names), nil
	})
	stopProfile()
	var lat []time.Duration
	var first, last time.Time
	for i, n := range names {
		t, node, ok := w.boundAt(n)
		if !ok {
			continue
		}
		if strategy != Unconstrained {
			// Every constrained strategy keeps an app in its driver's zone.
			drv := drivers[i/cfg.Executors]
			if z, dz := nodeZones.of(ctx, node), zoneOf[drv.Spec.NodeName]; z == "" || z != dz {
				return row, fmt.Errorf("executor %s bound in zone %q, its driver in %q", n, z, dz)
			}
		}
		row.Bound++
		lat = append(lat, t.Sub(created[i]))
		if t.After(last) {
			last = t
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	switch {
	case row.Bound > 1 && cfg.Backlog:
		// The scheduler alone: from its first binding to its last.
		row.Wall = last.Sub(first)
		row.PodsPerSec = float64(row.Bound-1) / row.Wall.Seconds()
	case row.Bound > 0:
		row.Wall = last.Sub(start)
		row.PodsPerSec = float64(row.Bound) / row.Wall.Seconds()
	}
	if row.Bound > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if !cfg.Backlog { // a backlog's latency is mostly its wait for the scheduler
			row.P50, row.P99 = pct(lat, 0.50), pct(lat, 0.99)
		}
	}
	if waitErr != nil && row.Bound == 0 {
		return row, fmt.Errorf("no executor bound: %w", waitErr)
	}
	return row, nil
}

// zones reads nodes' zone labels, once per node.
type zones struct {
	client kubernetes.Interface
	m      map[string]string
}

func (z *zones) of(ctx context.Context, node string) string {
	if zone, ok := z.m[node]; ok {
		return zone
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	n, err := z.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	z.m[node] = n.Labels[corev1.LabelTopologyZone]
	return z.m[node]
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func parallel(ctx context.Context, n int, f func(int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}

// startWebhook runs the sparkplane webhook in this process and registers
// it for Spark pods; stop unregisters it and stops it.
func startWebhook(ctx context.Context, cp *controlplane.ControlPlane, cfg *v1alpha1.SparkplaneConfiguration) (func(), error) {
	dir, err := os.MkdirTemp("", "sparkplane-bench-webhook-")
	if err != nil {
		return nil, err
	}
	wh, url, ca, err := webhook.NewLocal(webhook.Options{Config: cfg, RestConfig: cp.Config, Log: klog.Background().WithName("webhook")}, dir)
	if err != nil {
		return nil, err
	}
	whCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- wh.Run(whCtx) }()
	const name = "sparkplane-bench"
	stop := func() {
		_ = cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
		// Wait until the API server no longer calls it.
		wctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		_ = cp.WaitForWebhook(wctx, func(p *corev1.Pod) bool { return p.Annotations[pl.AnnotationDecision] == "" })
		c()
		cancel()
		<-done
		_ = os.RemoveAll(dir)
	}
	if err := cp.RegisterMutatingWebhook(ctx, name, url, ca); err != nil {
		stop()
		return nil, err
	}
	wctx, c := context.WithTimeout(ctx, time.Minute)
	defer c()
	if err := cp.WaitForWebhook(wctx, func(p *corev1.Pod) bool { return p.Annotations[pl.AnnotationDecision] != "" }); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// Print writes rows as a table.
func Print(out io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "nodes\tstrategy\texecutors\tbound\tcreated in\twall\tpods/s\tp50\tp99\tvs (a)\tbound by")
	for _, r := range rows {
		ratio := "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2fx", r.Ratio)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n", r.Nodes, Describe(r.Strategy), r.Executors, r.Bound,
			r.CreateWall.Round(time.Millisecond), r.Wall.Round(time.Millisecond), r.PodsPerSec, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), ratio, r.Limit)
	}
	tw.Flush()
}

// profile starts a CPU profile into dir (nothing when dir is empty) and
// returns its stop function.
func profile(dir string, size int, strategy string) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	name := fmt.Sprintf("%s/cpu-%d-%s.pprof", dir, size, strings.ReplaceAll(strategy, "+", "w"))
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

const backgroundNamespace = "bench-background"

// createBackground puts perNode small pods on each node, bound directly
// (no scheduling), labelled as executors of other Spark apps (one app per
// ten pods).
func createBackground(ctx context.Context, client kubernetes.Interface, nodes []string, perNode int) error {
	return parallel(ctx, len(nodes)*perNode, func(i int) error {
		node := nodes[i/perNode]
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("bg-%s-%d", node, i%perNode), Namespace: backgroundNamespace,
				Labels: map[string]string{"spark-role": "executor", "spark-app-selector": fmt.Sprintf("spark-bg-%d", i/10)},
			},
			Spec: corev1.PodSpec{
				NodeName:   node,
				Containers: []corev1.Container{{Name: "spark-kubernetes-executor", Image: "spark:3.5.0", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}}},
			},
		}
		_, err := client.CoreV1().Pods(backgroundNamespace).Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
}
