package scheduler_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/spark"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// namespace is a namespace of the test's own (see ControlPlane.Namespace).
func namespace(t *testing.T) string { return shared.cp.Namespace(t) }

// node is one virtual node of a test's layout; memory is plentiful, so
// cpu decides what fits.
type node struct {
	name     string
	zone     string
	capacity v1alpha1.CapacityType
	cpu      string
}

// createNodes creates the nodes, named <prefix>-<name>, and deletes them
// at cleanup.
func createNodes(t *testing.T, prefix string, nodes ...node) {
	t.Helper()
	ctx := context.Background()
	provider := v1alpha1.Default().Provider
	var names []string
	for _, n := range nodes {
		name := prefix + "-" + n.name
		spec := controlplane.NodeSpec{Name: name, Zone: n.zone, CPU: n.cpu, Memory: "256Gi", Labels: provider.NodeLabels(n.capacity)}
		if _, err := shared.cp.CreateNode(ctx, spec); err != nil {
			t.Fatalf("creating node %s: %v", name, err)
		}
		names = append(names, name)
	}
	t.Cleanup(func() {
		for _, name := range names {
			_ = shared.cp.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
		}
	})
}

// startScheduler runs a sparkplane scheduler (with the stock
// default-scheduler profile beside it) until stop or the end of the test.
func startScheduler(t *testing.T, args *scheduler.SparkGangArgs) *schedHandle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	r, err := scheduler.Start(ctx, scheduler.Options{
		Config:     scheduler.Config{Args: args, Metrics: shared.metrics, DefaultProfile: true},
		RestConfig: shared.cp.Config,
		Logger:     klog.Background(),
	})
	if err != nil {
		t.Fatalf("starting the sparkplane scheduler: %v", err)
	}
	t.Logf("sparkplane scheduler started in %s", time.Since(start).Round(time.Millisecond))
	h := &schedHandle{r: r}
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("stopping the scheduler: %v", err)
		}
	})
	return h
}

type schedHandle struct {
	r    *scheduler.Running
	once sync.Once
	err  error
}

func (h *schedHandle) stop() error {
	h.once.Do(func() { h.err = h.r.Stop() })
	return h.err
}

// sparkApp is a Spark app of the tests: a 1-cpu driver and n 1-cpu
// executors on the sparkplane scheduler, finishing after run.
func sparkApp(ns, name string, executors int, run time.Duration) sparksim.App {
	return sparksim.App{
		Namespace: ns, Name: name, Executors: executors,
		DriverCPU: "1", DriverMemory: "1Gi", ExecutorCPU: "1", ExecutorMemory: "1Gi",
		BatchDelay: 100 * time.Millisecond, StartDelay: 300 * time.Millisecond,
		Duration: run, SchedulerName: scheduler.SchedulerName,
	}
}

func submit(t *testing.T, app sparksim.App) *sparksim.Driver {
	t.Helper()
	d, err := sparksim.Submit(context.Background(), shared.cp.Client, app)
	if err != nil {
		t.Fatalf("submitting %s: %v", app.Name, err)
	}
	t.Cleanup(d.Stop)
	return d
}

// waitDone waits until every app has finished.
func waitDone(t *testing.T, rec *recorder, timeout time.Duration, apps ...*sparksim.Driver) {
	t.Helper()
	deadline := time.After(timeout)
	for _, d := range apps {
		select {
		case <-d.Done():
		case <-deadline:
			t.Fatalf("app %s did not finish within %s (driver error: %v)\n%s", d.App.Name, timeout, d.Err(), rec.dump())
		}
	}
}

// recorder watches a namespace's pods and keeps, in the order the API
// server reported them, when each pod was first bound (and where), first
// Succeeded, and whether it was ever marked Unschedulable.
type recorder struct {
	mu      sync.Mutex
	seq     int
	bound   map[string]int
	node    map[string]string
	done    map[string]int
	unsched map[string]string
	pods    map[string]*corev1.Pod
}

func record(t *testing.T, ns string) *recorder {
	t.Helper()
	r := &recorder{bound: map[string]int{}, node: map[string]string{}, done: map[string]int{}, unsched: map[string]string{}, pods: map[string]*corev1.Pod{}}
	f := informers.NewSharedInformerFactoryWithOptions(shared.cp.Client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    r.see,
		UpdateFunc: func(_, obj any) { r.see(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	f.Start(stop)
	f.WaitForCacheSync(stop)
	t.Cleanup(func() { close(stop); f.Shutdown() })
	return r
}

func (r *recorder) see(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.pods[p.Name] = p
	if _, ok := r.bound[p.Name]; !ok && p.Spec.NodeName != "" {
		r.bound[p.Name], r.node[p.Name] = r.seq, p.Spec.NodeName
	}
	if _, ok := r.done[p.Name]; !ok && p.Status.Phase == corev1.PodSucceeded {
		r.done[p.Name] = r.seq
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			r.unsched[p.Name] = c.Message
		}
	}
}

// boundSeq is when the pod was first bound (0: never).
func (r *recorder) boundSeq(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bound[name]
}

func (r *recorder) doneSeq(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[name]
}

func (r *recorder) nodeOf(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.node[name]
}

// pod is the pod as last seen (nil: never seen).
func (r *recorder) pod(name string) *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pods[name]
}

func (r *recorder) unschedulable(name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.unsched[name]
	return m, ok
}

// executors are the names of an app's executor pods seen so far.
func (r *recorder) executors(app sparksim.App) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for name, p := range r.pods {
		if spark.RoleOf(p) == spark.RoleExecutor && p.Labels[spark.LabelAppName] == app.Name {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// boundExecutors counts an app's executors bound and not finished.
func (r *recorder) boundExecutors(app sparksim.App) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for name, p := range r.pods {
		if spark.RoleOf(p) == spark.RoleExecutor && p.Labels[spark.LabelAppName] == app.Name && p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.DeletionTimestamp == nil {
			_ = name
			n++
		}
	}
	return n
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for n := range r.pods {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		p := r.pods[n]
		fmt.Fprintf(&b, "  %s node=%q phase=%s bound@%d done@%d", n, p.Spec.NodeName, p.Status.Phase, r.bound[n], r.done[n])
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				fmt.Fprintf(&b, " %s: %s", c.Reason, c.Message)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// eventually polls cond every 100ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, rec *recorder, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("%s: not within %s\n%s", what, timeout, rec.dump())
	}
}

// counter reads a counter of the shared metrics registry, by the value
// of its one label (all series summed when label is "").
func counter(t *testing.T, name, label string) float64 {
	t.Helper()
	families, err := shared.registry.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[len(m.GetLabel())-1].GetValue() != label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}
