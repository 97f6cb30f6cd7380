package sparksim

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

// Driver simulates a Spark driver against a real API server: it keeps
// App.Executors executors alive, creating them in batches only once the
// driver is bound (there is no kubelet, so bound stands for running) and
// once the previous batch has been seen, and replacing executors that are
// deleted or fail, with fresh ids, as Spark's ExecutorPodsAllocator does.
type Driver struct {
	App App
	// Pod is the driver pod once bound: set by Start before it returns;
	// after Submit read it with DriverPod. Nil in client mode.
	Pod    *corev1.Pod
	client kubernetes.Interface

	mu       sync.Mutex
	nextID   int
	err      error
	cancel   context.CancelFunc
	stopped  chan struct{}
	done     chan struct{} // closed when the app has finished (App.Duration)
	bound    time.Time     // when the driver was seen bound
	started  time.Time     // when the minimum executors were all bound
	finished time.Time
}

// Start submits the app: it creates the driver pod (unless client mode)
// and its Spark conf ConfigMap, waits until the scheduler binds the driver,
// then allocates executors in the background until Stop (or until the app
// finishes, see App.Duration).
func Start(ctx context.Context, client kubernetes.Interface, app App) (*Driver, error) {
	d := newDriver(client, app)
	if !d.App.ClientMode {
		pod, err := d.create(ctx)
		if err != nil {
			return nil, err
		}
		if pod, err = WaitBound(ctx, client, pod.Namespace, pod.Name); err != nil {
			return nil, fmt.Errorf("driver of %s: %w", d.App.Name, err)
		}
		d.Pod, d.bound = pod, time.Now()
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	go d.allocate(loopCtx)
	return d, nil
}

func newDriver(client kubernetes.Interface, app App) *Driver {
	return &Driver{App: app.withDefaults(), client: client, nextID: 1, stopped: make(chan struct{}), done: make(chan struct{})}
}

// WaitBound waits until the pod has a node. It watches the one pod (as
// spark-submit watches its driver) instead of polling, so many waiting
// drivers cost the API server one idle watch each.
func WaitBound(ctx context.Context, client kubernetes.Interface, namespace, name string) (*corev1.Pod, error) {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return client.CoreV1().Pods(namespace).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return client.CoreV1().Pods(namespace).Watch(ctx, o)
		},
	}
	ev, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(e watch.Event) (bool, error) {
		switch e.Type {
		case watch.Deleted:
			return false, fmt.Errorf("pod %s/%s was deleted", namespace, name)
		case watch.Added, watch.Modified:
			p, ok := e.Object.(*corev1.Pod)
			return ok && p.Spec.NodeName != "", nil
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for pod %s/%s to be bound: %w", namespace, name, err)
	}
	return ev.Object.(*corev1.Pod), nil
}

func (d *Driver) allocate(ctx context.Context) {
	defer close(d.stopped)
	if d.App.StartDelay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.App.StartDelay):
		}
	}
	t := time.NewTicker(d.App.BatchDelay)
	defer t.Stop()
	for {
		err := d.step(ctx)
		if err == nil && d.App.Duration > 0 {
			var finished bool
			finished, err = d.progress(ctx)
			if finished {
				return
			}
		}
		if err != nil && ctx.Err() == nil {
			d.setErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Driver) setErr(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

// step creates at most one batch, and only when every executor created so
// far has been seen (Spark waits for its previous batch the same way).
func (d *Driver) step(ctx context.Context) error {
	d.mu.Lock()
	driver := d.Pod
	d.mu.Unlock()
	if driver == nil && !d.App.ClientMode {
		return nil // Submit: the driver is not bound yet, so it is not running
	}
	pods, err := d.ExecutorPods(ctx)
	if err != nil {
		return err
	}
	live := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			live++
		}
	}
	missing := d.App.Executors - live
	if missing > d.App.BatchSize {
		missing = d.App.BatchSize
	}
	for i := 0; i < missing; i++ {
		d.mu.Lock()
		id := d.nextID
		d.nextID++
		d.mu.Unlock()
		if _, err := d.client.CoreV1().Pods(d.App.Namespace).Create(ctx, ExecutorPod(d.App, driver, id), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating executor %d of %s: %w", id, d.App.Name, err)
		}
	}
	return nil
}

// ExecutorPods lists the app's executor pods.
func (d *Driver) ExecutorPods(ctx context.Context) ([]corev1.Pod, error) {
	sel := labels.SelectorFromSet(labels.Set{spark.LabelAppSelector: d.App.AppID, spark.LabelRole: string(spark.RoleExecutor)})
	list, err := d.client.CoreV1().Pods(d.App.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing executors of %s: %w", d.App.Name, err)
	}
	return list.Items, nil
}

// Created is how many executors the driver has requested so far.
func (d *Driver) Created() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nextID - 1
}

// Err is the last allocation error, if any.
func (d *Driver) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Stop ends allocation (the app finished or was killed).
func (d *Driver) Stop() {
	d.cancel()
	<-d.stopped
}

// Delete stops the driver and removes its pods at once (grace period 0:
// with no kubelet, graceful deletion of a bound pod would never finish).
func (d *Driver) Delete(ctx context.Context) error {
	d.Stop()
	sel := labels.SelectorFromSet(labels.Set{spark.LabelAppSelector: d.App.AppID}).String()
	err := d.client.CoreV1().Pods(d.App.Namespace).DeleteCollection(ctx,
		metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("deleting pods of %s: %w", d.App.Name, err)
	}
	if !d.App.ClientMode {
		// No garbage collector runs here to follow the ConfigMap's owner reference.
		err := d.client.CoreV1().ConfigMaps(d.App.Namespace).Delete(ctx, d.App.ConfMapName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting conf ConfigMap of %s: %w", d.App.Name, err)
		}
	}
	return nil
}
