// Package benchkit is what the scheduling benchmarks share: one in-process
// kube-scheduler running both the default profile and sparkplane's, with
// client rate limits raised so they are not what is measured, and a
// progress printer.
package benchkit

import (
	"context"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	kscheduler "k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
)

// StartSchedulers starts the scheduler on cp, sparkplane's profile in
// strict FIFO (headOfLineWait 0) so runs are comparable, and returns a
// client with the same raised limits. metrics may be nil; extra options
// apply to both profiles.
func StartSchedulers(ctx context.Context, cp *controlplane.ControlPlane, qps float32, burst int, metrics *scheduler.Metrics, extra ...kscheduler.Option) (kubernetes.Interface, *scheduler.Running, error) {
	restCfg := rest.CopyConfig(cp.Config)
	restCfg.QPS, restCfg.Burst = qps, burst
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating client: %w", err)
	}
	if metrics == nil {
		metrics = scheduler.NewMetrics()
	}
	sched, err := scheduler.Start(ctx, scheduler.Options{
		Config:     scheduler.Config{Metrics: metrics, DefaultProfile: true, Args: &scheduler.SparkGangArgs{HeadOfLineWait: &metav1.Duration{}}},
		RestConfig: restCfg,
		Logger:     klog.Background(),
		Extra:      extra,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("starting the scheduler: %w", err)
	}
	return client, sched, nil
}

// Logf prints a progress line to w, or nothing when w is nil.
func Logf(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		if w != nil {
			fmt.Fprintf(w, format+"\n", args...)
		}
	}
}

// CleanupNamespace force-deletes the pods of a bench namespace (with no
// kubelet, a graceful deletion of a bound pod would never be confirmed),
// waits until they are gone, then deletes the namespace; errors are logged,
// not returned, as it runs on the way out.
func CleanupNamespace(ctx context.Context, client kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_ = client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	_ = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil && len(l.Items) == 0, nil
	})
	if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		klog.Background().Error(err, "deleting bench namespace", "namespace", ns)
	}
}
