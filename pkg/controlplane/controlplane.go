package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.etcd.io/etcd/server/v3/embed"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/pkg/scheduler"

	"github.com/sparkplane/sparkplane/pkg/kubescheduler"
)

const (
	// ClientQPS and ClientBurst are the client rate limits of Config and of
	// the in-process scheduler's client.
	ClientQPS   = 500
	ClientBurst = 1000

	// etcdStoragePrefix is the key prefix of the apiserver's objects in etcd.
	etcdStoragePrefix = "/registry"
)

// DefaultAPIServerFlags are passed to kube-apiserver before
// Options.ExtraAPIServerFlags.
//
//   - --endpoint-reconciler-type=none: there is no real network endpoint to
//     maintain for the kubernetes service.
//   - --disable-admission-plugins=ServiceAccount,TaintNodesByCondition: no
//     controller-manager creates service accounts, and the taint plugin would
//     mark new nodes not-ready with nobody to remove the taint.
//   - --shutdown-watch-termination-grace-period=2s: on shutdown the apiserver
//     ends open watches itself. Without it, any watch still open (an
//     informer or controller the caller has not stopped yet) keeps Stop
//     waiting for the HTTP server's 60 s shutdown timeout.
//
// Note that list-valued flags given again in ExtraAPIServerFlags append to
// the values above (pflag semantics) rather than replace them.
func DefaultAPIServerFlags() []string {
	return []string{
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		"--shutdown-watch-termination-grace-period=2s",
	}
}

// Options configure Start.
type Options struct {
	// Scheduler starts an in-process kube-scheduler (default profile) when true.
	Scheduler bool
	// SchedulerOptions are extra scheduler.Option values (e.g. WithProfiles,
	// WithFrameworkOutOfTreeRegistry) for later plugins. They are applied
	// after the defaults, so they override them.
	SchedulerOptions []scheduler.Option
	// LogWriter receives klog output of all components (default: io.Discard).
	// It does not need to be goroutine-safe; writes are serialized, and
	// nothing is written to it after Stop returns.
	//
	// klog is global: unless SkipKlogSetup is set, the first Start in the
	// process installs a klog logger, and every Start routes klog's global
	// output to its own LogWriter until its Stop. With several control
	// planes running at once, global klog output goes to the most recently
	// started one; their contextual logs and etcd's logs always go to their
	// own writer.
	LogWriter io.Writer
	// LogVerbosity is the klog verbosity of the loggers this package creates
	// (0 by default). At 2 or more etcd also logs at info level. The
	// verbosity of klog's global logger is fixed by the first Start.
	LogVerbosity int
	// SkipKlogSetup leaves klog's global configuration alone, for programs
	// that configure klog themselves. LogWriter then only receives the
	// output of loggers this package passes to the components explicitly.
	SkipKlogSetup bool
	// ExtraAPIServerFlags are appended to the kube-apiserver flags (see
	// DefaultAPIServerFlags).
	ExtraAPIServerFlags []string
}

// ControlPlane is a running etcd + kube-apiserver (+ kube-scheduler).
type ControlPlane struct {
	// Config is an admin (system:masters) config for the apiserver, with
	// QPS/Burst raised to ClientQPS/ClientBurst.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface

	tempDir    string
	logs       *logSink
	logger     logr.Logger
	tb         *headlessTB
	klogOwned  bool
	etcd       *embed.Etcd
	etcdURL    string
	apiServer  *kubeapiservertesting.TestServer
	sched      *kubescheduler.Running
	stopOnce   sync.Once
	stopErrMu  sync.Mutex
	stopErrors []error
}

// Start brings up an embedded etcd (free loopback ports, UnsafeNoFsync,
// data in a temp dir), a kube-apiserver (StartTestServer with
// DefaultAPIServerFlags plus opts.ExtraAPIServerFlags) and, if
// opts.Scheduler is set, a kube-scheduler with the default profile.
//
// ctx bounds the start-up only; the components run until Stop. On error
// everything started so far is stopped again.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, retErr error) {
	tempDir, err := os.MkdirTemp("", "sparkplane-controlplane-")
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	logs := newLogSink(opts.LogWriter)
	cp := &ControlPlane{
		tempDir: tempDir,
		logs:    logs,
		logger:  newKlogLogger(logs, opts.LogVerbosity),
	}
	cp.tb = newHeadlessTB("sparkplane-controlplane", logs, tempDir)
	if !opts.SkipKlogSetup {
		globalKlog.attach(logs, opts.LogVerbosity)
		cp.klogOwned = true
	}
	defer func() {
		if retErr != nil {
			cp.Stop()
		}
	}()

	cp.etcd, cp.etcdURL, err = startEtcd(ctx, tempDir, newZapLogger(logs, opts.LogVerbosity))
	if err != nil {
		return nil, fmt.Errorf("starting etcd: %w", err)
	}

	if err := cp.startAPIServer(ctx, opts.ExtraAPIServerFlags); err != nil {
		return nil, fmt.Errorf("starting kube-apiserver: %w", err)
	}

	cfg := rest.CopyConfig(cp.apiServer.ClientConfig)
	cfg.QPS = ClientQPS
	cfg.Burst = ClientBurst
	cp.Config = cfg
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	cp.Client = client

	if err := ensureNamespace(ctx, client, metav1.NamespaceDefault); err != nil {
		return nil, fmt.Errorf("ensuring namespace %q: %w", metav1.NamespaceDefault, err)
	}

	if opts.Scheduler {
		cp.sched, err = kubescheduler.Start(ctx, cfg, cp.logger, opts.SchedulerOptions)
		if err != nil {
			return nil, fmt.Errorf("starting kube-scheduler: %w", err)
		}
	}
	return cp, nil
}

// startAPIServer runs StartTestServer on its own goroutine: it may call
// Fatal on the TB, which ends the calling goroutine.
func (cp *ControlPlane) startAPIServer(ctx context.Context, extraFlags []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	storageCfg := storagebackend.NewDefaultConfig(etcdStoragePrefix, nil)
	storageCfg.Transport.ServerList = []string{cp.etcdURL}
	flags := append(DefaultAPIServerFlags(), extraFlags...)
	if err := validateAPIServerFlags(flags); err != nil {
		return err
	}

	var (
		server   kubeapiservertesting.TestServer
		startErr error
	)
	runIsolated(cp.tb, func() {
		server, startErr = kubeapiservertesting.StartTestServer(cp.tb, kubeapiservertesting.NewDefaultTestServerOptions(), flags, storageCfg)
	})
	if err := errors.Join(startErr, cp.tb.err()); err != nil {
		if server.TearDownFn != nil {
			server.TearDownFn()
		}
		return err
	}
	cp.apiServer = &server
	return ctx.Err()
}

// ensureNamespace creates the namespace if it does not exist. There is no
// controller-manager; StartTestServer normally has created "default"
// already through the apiserver's bootstrap controller.
func ensureNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// Stop shuts down in order: scheduler and its informers, then the
// apiserver, then etcd; then it runs cleanups and removes temp dirs. It is
// idempotent and safe to call concurrently; later calls return immediately
// (after the first has finished).
func (cp *ControlPlane) Stop() {
	cp.stopOnce.Do(cp.stop)
}

// StopErr returns the problems met by Stop, if any.
func (cp *ControlPlane) StopErr() error {
	cp.stopErrMu.Lock()
	defer cp.stopErrMu.Unlock()
	return errors.Join(cp.stopErrors...)
}

func (cp *ControlPlane) recordStopErr(err error) {
	if err == nil {
		return
	}
	cp.stopErrMu.Lock()
	defer cp.stopErrMu.Unlock()
	cp.stopErrors = append(cp.stopErrors, err)
}

func (cp *ControlPlane) stop() {
	start := time.Now()
	if cp.sched != nil {
		cp.recordStopErr(cp.sched.Stop())
	}
	if cp.apiServer != nil && cp.apiServer.TearDownFn != nil {
		runIsolated(cp.tb, cp.apiServer.TearDownFn)
	}
	if cp.etcd != nil {
		cp.etcd.Close()
	}
	cp.tb.runCleanups()
	if err := cp.tb.err(); err != nil {
		cp.recordStopErr(fmt.Errorf("control plane reported failures: %w", err))
	}
	if cp.tempDir != "" {
		if err := os.RemoveAll(cp.tempDir); err != nil {
			cp.recordStopErr(fmt.Errorf("removing temp dir: %w", err))
		}
	}
	cp.logger.V(1).Info("Control plane stopped", "duration", time.Since(start))
	if cp.klogOwned {
		globalKlog.detach(cp.logs)
	}
	cp.logs.detach()
}

// TempDir returns the directory holding etcd's data; it is removed by Stop.
func (cp *ControlPlane) TempDir() string { return cp.tempDir }

// EtcdURL returns the client URL of the embedded etcd.
func (cp *ControlPlane) EtcdURL() string { return cp.etcdURL }

// Scheduler returns the in-process scheduler, or nil if none was started.
func (cp *ControlPlane) Scheduler() *scheduler.Scheduler {
	if cp.sched == nil {
		return nil
	}
	return cp.sched.Scheduler()
}
