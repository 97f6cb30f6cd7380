package scheduler

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler"

	"github.com/sparkplane/sparkplane/pkg/kubescheduler"
)

// Options configure Start.
type Options struct {
	Config
	// RestConfig reaches the API server; its QPS and Burst are used as given.
	RestConfig *rest.Config
	// Logger receives the scheduler's logs (default: klog's).
	Logger logr.Logger
	// Extra options are applied after the configuration's, so they win:
	// e.g. a percentageOfNodesToScore for a benchmark.
	Extra []scheduler.Option
}

// Running is a sparkplane scheduler running in this process, without
// leader election (for tests, the local cluster and demos; in a cluster
// use the `sparkplane scheduler` command). Stop it with Stop; like a crash,
// stopping leaves in the API server whatever was written, and a new Start
// rebuilds from there.
type Running = kubescheduler.Running

// Start builds the scheduler with SchedulerOptions, starts and syncs its
// informers and runs it until Stop. ctx bounds the start-up only.
func Start(ctx context.Context, opts Options) (*Running, error) {
	schedOpts, err := SchedulerOptions(opts.Config)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger.GetSink() == nil {
		logger = klog.Background()
	}
	return kubescheduler.Start(ctx, opts.RestConfig, logger.WithName(SchedulerName), append(schedOpts, opts.Extra...))
}
