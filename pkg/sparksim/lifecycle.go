package sparksim

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Submit is Start without waiting: it creates the driver pod and its conf
// ConfigMap and returns at once, as spark-submit does with
// spark.kubernetes.submission.waitAppCompletion=false. The driver starts
// allocating executors once the scheduler has bound it (see DriverPod).
func Submit(ctx context.Context, client kubernetes.Interface, app App) (*Driver, error) {
	d := newDriver(client, app)
	if !d.App.ClientMode {
		if _, err := d.create(ctx); err != nil {
			return nil, err
		}
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	go func() {
		if !d.App.ClientMode {
			pod, err := WaitBound(loopCtx, client, d.App.Namespace, d.App.DriverName())
			if err != nil {
				if loopCtx.Err() == nil {
					d.setErr(err)
				}
				close(d.stopped)
				return
			}
			d.mu.Lock()
			d.Pod, d.bound = pod, time.Now()
			d.mu.Unlock()
		}
		d.allocate(loopCtx)
	}()
	return d, nil
}

// create creates the driver pod and then its conf ConfigMap, in Spark's
// order (KubernetesClientApplication creates the pod first and the
// ConfigMap, owned by the pod, right after it), so a scheduler may see the
// driver a moment before its conf.
func (d *Driver) create(ctx context.Context) (*corev1.Pod, error) {
	pod, err := d.client.CoreV1().Pods(d.App.Namespace).Create(ctx, DriverPod(d.App), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating driver of %s: %w", d.App.Name, err)
	}
	cm := ConfMap(d.App)
	cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptr.To(true)}}
	if _, err := d.client.CoreV1().ConfigMaps(d.App.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating conf ConfigMap of %s: %w", d.App.Name, err)
	}
	return pod, nil
}

// DriverPod returns the driver pod as last seen bound, or nil before that
// (and in client mode).
func (d *Driver) DriverPod() *corev1.Pod {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Pod
}

// ConfMapName is the name of the driver's conf ConfigMap, as mounted by DriverPod.
func (a App) ConfMapName() string {
	a = a.withDefaults()
	return "spark-drv-" + a.AppID[6:22] + "-conf-map"
}

// ConfMap returns the ConfigMap spark-submit creates for the driver: its
// resolved conf as spark.properties. The executor settings match the
// executor pods ExecutorPod creates: spark.executor.instances is
// App.Executors, the cpu request is spark.kubernetes.executor.request.cores
// and the memory request is split into heap and a 384Mi overhead.
func ConfMap(app App) *corev1.ConfigMap {
	a := app.withDefaults()
	props := map[string]string{
		"spark.app.name":                          a.Name,
		"spark.app.id":                            a.AppID,
		"spark.submit.deployMode":                 "cluster",
		"spark.kubernetes.namespace":              a.Namespace,
		"spark.kubernetes.driver.pod.name":        a.prefix() + "-driver",
		"spark.kubernetes.resource.type":          "java",
		"spark.executor.instances":                strconv.Itoa(a.Executors),
		"spark.kubernetes.executor.request.cores": a.ExecutorCPU,
		"spark.kubernetes.allocation.batch.size":  strconv.Itoa(a.BatchSize),
	}
	if q, err := resource.ParseQuantity(a.ExecutorCPU); err == nil && q.MilliValue()%1000 == 0 {
		props["spark.executor.cores"] = strconv.FormatInt(q.Value(), 10)
	}
	if q, err := resource.ParseQuantity(a.ExecutorMemory); err == nil {
		const overheadMiB = 384
		total := q.Value() >> 20
		heap := max(total-overheadMiB, 1)
		props["spark.executor.memory"] = strconv.FormatInt(heap, 10) + "m"
		props["spark.executor.memoryOverhead"] = strconv.FormatInt(total-heap, 10) + "m"
	}
	for k, v := range a.Properties {
		props[k] = v
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("#Java properties built from Kubernetes config map with name: " + a.ConfMapName() + "\n")
	for _, k := range keys {
		b.WriteString(k + "=" + props[k] + "\n")
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: a.ConfMapName(), Namespace: a.Namespace},
		Data:       map[string]string{"spark.properties": b.String()},
	}
}

// progress finishes the app once App.Duration has passed since all its
// executors were first bound. It reports whether the app has finished.
func (d *Driver) progress(ctx context.Context) (bool, error) {
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	if started.IsZero() {
		pods, err := d.ExecutorPods(ctx)
		if err != nil {
			return false, err
		}
		bound := 0
		for _, p := range pods {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
				bound++
			}
		}
		if bound < d.App.Executors {
			return false, nil
		}
		d.mu.Lock()
		d.started = time.Now()
		d.mu.Unlock()
		return false, nil
	}
	if time.Since(started) < d.App.Duration {
		return false, nil
	}
	if err := d.finish(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// finish marks the executors, then the driver, Succeeded.
func (d *Driver) finish(ctx context.Context) error {
	pods, err := d.ExecutorPods(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" {
			// Never ran: Spark deletes pending executors when it stops.
			err := d.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting pending executor %s: %w", p.Name, err))
			}
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			errs = append(errs, succeed(ctx, d.client, p.Namespace, p.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if pod := d.DriverPod(); pod != nil {
		if err := succeed(ctx, d.client, pod.Namespace, pod.Name); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.finished = time.Now()
	d.mu.Unlock()
	close(d.done)
	return nil
}

// succeed sets a pod's phase to Succeeded with its containers terminated
// (exit code 0), as a kubelet reports a completed pod.
func succeed(ctx context.Context, client kubernetes.Interface, namespace, name string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodSucceeded
		p.Status.ContainerStatuses = nil
		for _, c := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: now}},
			})
		}
		_, err = client.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("marking pod %s/%s Succeeded: %w", namespace, name, err)
	}
	return nil
}

// Done is closed when the app has finished (only with App.Duration).
func (d *Driver) Done() <-chan struct{} { return d.done }

// Bound is when the driver was seen bound (zero until then and in client mode).
func (d *Driver) Bound() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bound
}

// Started is when all of the app's executors were first bound (zero until
// then; only tracked with App.Duration).
func (d *Driver) Started() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.started
}

// Finished is when the app finished (zero until then).
func (d *Driver) Finished() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finished
}
