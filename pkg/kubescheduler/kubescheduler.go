// Package kubescheduler runs a kube-scheduler (k8s.io/kubernetes/pkg/scheduler)
// in-process against any API server: the default configuration plus the
// caller's options, informers started and synced, until Stop. It is what
// the local cluster, the tests and benchmarks use to run kube-scheduler or
// sparkplane's scheduler without leader election; it links no etcd and no
// apiserver, so pkg/scheduler can use it without carrying the dev cluster
// (pkg/controlplane uses it too).
package kubescheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	"k8s.io/klog/v2"
	schedulerconfigv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/kubernetes/pkg/scheduler"
	schedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"k8s.io/kubernetes/pkg/scheduler/profile"
)

// stopTimeout bounds how long Stop waits for Scheduler.Run to
// return after cancellation.
const stopTimeout = 30 * time.Second

// Running is an in-process kube-scheduler and what it needs.
type Running struct {
	sched       *scheduler.Scheduler
	cancel      context.CancelFunc
	runDone     chan struct{}
	informers   informers.SharedInformerFactory
	dynInformer dynamicinformer.DynamicSharedInformerFactory
	broadcaster events.EventBroadcaster
}

// DefaultConfiguration returns the defaulted internal
// KubeSchedulerConfiguration: an empty versioned (v1) configuration,
// defaulted and converted through the scheduler scheme (what kube-scheduler
// uses without a config file). Its profiles contain "default-scheduler".
func DefaultConfiguration() (*schedulerconfig.KubeSchedulerConfiguration, error) {
	versioned := schedulerconfigv1.KubeSchedulerConfiguration{}
	versioned.DebuggingConfiguration = *componentbaseconfigv1alpha1.NewRecommendedDebuggingConfiguration()
	schedulerscheme.Scheme.Default(&versioned)
	cfg := &schedulerconfig.KubeSchedulerConfiguration{}
	if err := schedulerscheme.Scheme.Convert(&versioned, cfg, nil); err != nil {
		return nil, fmt.Errorf("converting default scheduler configuration: %w", err)
	}
	cfg.TypeMeta.APIVersion = schedulerconfigv1.SchemeGroupVersion.String()
	return cfg, nil
}

// Start creates a kube-scheduler with the default configuration plus extra
// options (which win: e.g. WithProfiles, an out-of-tree registry), starts
// and syncs its informers and runs it in a goroutine. It lives until Stop;
// startCtx only bounds the start-up. A scheduler can be stopped and started
// again on its own (restart tests).
func Start(startCtx context.Context, restCfg *rest.Config, logger logr.Logger, extra []scheduler.Option) (*Running, error) {
	cfg, err := DefaultConfiguration()
	if err != nil {
		return nil, err
	}

	restCfg = rest.CopyConfig(restCfg)
	restCfg.UserAgent = "sparkplane-kube-scheduler"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("creating scheduler client: %w", err)
	}
	dynClient, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("creating scheduler dynamic client: %w", err)
	}

	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.LoggerWithName(logger, "kube-scheduler")))
	rs := &Running{
		cancel:      cancel,
		runDone:     make(chan struct{}),
		informers:   scheduler.NewInformerFactory(client, 0),
		dynInformer: dynamicinformer.NewFilteredDynamicSharedInformerFactory(dynClient, 0, "", nil),
		broadcaster: events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()}),
	}

	opts := []scheduler.Option{
		scheduler.WithComponentConfigVersion(cfg.TypeMeta.APIVersion),
		scheduler.WithKubeConfig(restCfg),
		scheduler.WithProfiles(cfg.Profiles...),
		scheduler.WithPercentageOfNodesToScore(cfg.PercentageOfNodesToScore),
		scheduler.WithPodMaxBackoffSeconds(cfg.PodMaxBackoffSeconds),
		scheduler.WithPodInitialBackoffSeconds(cfg.PodInitialBackoffSeconds),
		scheduler.WithExtenders(cfg.Extenders...),
		scheduler.WithParallelism(cfg.Parallelism),
	}
	// Caller options come last so that they override the defaults above.
	opts = append(opts, extra...)

	rs.sched, err = scheduler.New(ctx, client, rs.informers, rs.dynInformer, profile.NewRecorderFactory(rs.broadcaster), opts...)
	if err != nil {
		rs.stopWithoutRun()
		return nil, fmt.Errorf("creating scheduler: %w", err)
	}
	rs.broadcaster.StartRecordingToSink(ctx.Done())
	rs.informers.Start(ctx.Done())
	rs.dynInformer.Start(ctx.Done())

	// Wait for the caches, giving up if either the start-up context or the
	// scheduler's own context ends.
	syncCtx, syncCancel := context.WithCancel(startCtx)
	stopAfter := context.AfterFunc(ctx, syncCancel)
	err = waitForSchedulerSync(syncCtx, rs)
	stopAfter()
	syncCancel()
	if err != nil {
		rs.stopWithoutRun()
		return nil, err
	}

	go func() {
		defer close(rs.runDone)
		rs.sched.Run(ctx)
	}()
	return rs, nil
}

func waitForSchedulerSync(ctx context.Context, rs *Running) error {
	for typ, ok := range rs.informers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("syncing scheduler informer for %v: %w", typ, context.Cause(ctx))
		}
	}
	for gvr, ok := range rs.dynInformer.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("syncing scheduler informer for %v: %w", gvr, context.Cause(ctx))
		}
	}
	if err := rs.sched.WaitForHandlersSync(ctx); err != nil {
		return fmt.Errorf("waiting for scheduler event handlers: %w", err)
	}
	return nil
}

// Scheduler is the running kube-scheduler.
func (rs *Running) Scheduler() *scheduler.Scheduler { return rs.sched }

// stopWithoutRun tears down a scheduler whose Run was never started.
func (rs *Running) stopWithoutRun() {
	rs.cancel()
	rs.broadcaster.Shutdown()
	rs.informers.Shutdown()
	rs.dynInformer.Shutdown()
}

// Stop cancels the scheduler, waits for Run to return, then stops the
// event broadcaster and waits for the informers to finish.
func (rs *Running) Stop() error {
	rs.cancel()
	var err error
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-rs.runDone:
	case <-timer.C:
		err = fmt.Errorf("scheduler did not stop within %v", stopTimeout)
	}
	rs.broadcaster.Shutdown()
	rs.informers.Shutdown()
	rs.dynInformer.Shutdown()
	return err
}
