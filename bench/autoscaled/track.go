package autoscaled

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

var (
	metaCreate = metav1.CreateOptions{}
	metaGet    = metav1.GetOptions{}
)

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// pod is what the tracker saw of one Spark pod, with the times it first
// saw each state (the API's timestamps have whole seconds only).
type pod struct {
	role, node              string
	created, bound, running time.Time
}

// tracker watches every Spark pod of the cluster.
type tracker struct {
	mu   sync.Mutex
	seen map[string]map[string]*pod // namespace, name
	stop context.CancelFunc
}

func track(ctx context.Context, client kubernetes.Interface) (*tracker, error) {
	t := &tracker{seen: map[string]map[string]*pod{}}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = spark.LabelRole }))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: t.see, UpdateFunc: func(_, o any) { t.see(o) },
	}); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	t.stop = func() { cancel(); factory.Shutdown() }
	factory.Start(wctx.Done())
	if !toolscache.WaitForCacheSync(wctx.Done(), inf.HasSynced) {
		t.stop()
		return nil, fmt.Errorf("watching Spark pods: cache did not sync")
	}
	return t, nil
}

func (t *tracker) see(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	ns := t.seen[p.Namespace]
	if ns == nil {
		ns = map[string]*pod{}
		t.seen[p.Namespace] = ns
	}
	r := ns[p.Name]
	if r == nil {
		r = &pod{role: p.Labels[spark.LabelRole], created: now}
		ns[p.Name] = r
	}
	if p.Spec.NodeName != "" && r.bound.IsZero() {
		r.node, r.bound = p.Spec.NodeName, now
	}
	if (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded) && r.running.IsZero() {
		r.running = now
	}
}

// pods returns copies of a namespace's pods.
func (t *tracker) pods(ns string) []pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []pod
	for _, p := range t.seen[ns] {
		out = append(out, *p)
	}
	return out
}

// submitted is when the namespace's driver pod was first seen (spark-submit
// creates it first), or fallback.
func (t *tracker) submitted(ns string, fallback time.Time) time.Time {
	for _, p := range t.pods(ns) {
		if p.role == string(spark.RoleDriver) {
			return p.created
		}
	}
	return fallback
}
