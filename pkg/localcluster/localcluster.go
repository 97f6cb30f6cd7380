// Package localcluster runs a real multi-zone Kubernetes cluster in one
// process on this machine, with no Docker: embedded etcd, kube-apiserver,
// a scheduler, the sparkplane webhook (registered with its CA bundle), and
// virtual nodes in several zones whose process kubelets run Spark driver
// and executor pods as real JVMs. It backs `sparkplane local up`, the demo
// and the end-to-end tests.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/kubelet"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/sparkdist"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

// Kubelet modes.
const (
	// KubeletProcess runs the pods bound to each node as local processes.
	KubeletProcess = "process"
	// KubeletNone: nodes only; pods are bound and never run.
	KubeletNone = "none"
)

// Schedulers.
const (
	// SchedulerDefault is the stock kube-scheduler.
	SchedulerDefault = "default"
	// SchedulerSparkplane is kube-scheduler with sparkplane's SparkGang
	// profile (and the default profile for other pods); the webhook then
	// points Spark pods at it.
	SchedulerSparkplane = "sparkplane"
)

// Options configure a local cluster.
type Options struct {
	// Dir holds the cluster's state: kubeconfig, node and pod directories
	// (with every pod's log, kept after the pod ends), component logs.
	// Start accepts a new or empty directory, or an earlier cluster's when
	// Recreate is set, and refuses any other; it never removes what it did
	// not create there.
	Dir string
	// Recreate replaces an earlier cluster's state in Dir (its kubeconfig,
	// node and pod directories, logs); other files there stay.
	Recreate bool
	// Zones, and per zone the number of on-demand and spot nodes.
	Zones                        []string
	OnDemandPerZone, SpotPerZone int
	// NodeCPU and NodeMemory are each node's allocatable resources, as
	// Kubernetes quantities.
	NodeCPU, NodeMemory string
	// Kubelet is KubeletProcess or KubeletNone.
	Kubelet string
	// Scheduler is SchedulerDefault or SchedulerSparkplane.
	Scheduler string
	// Webhook registers the sparkplane webhook at start.
	Webhook bool
	// Autoscaler is AutoscalerNone (or empty) or AutoscalerKarpenter; with
	// Karpenter, OnDemandPerZone and SpotPerZone may both be 0.
	Autoscaler string
	// Karpenter configures the autoscaler when Autoscaler is
	// AutoscalerKarpenter.
	Karpenter KarpenterOptions
	// Config configures the webhook (and the provider's node labels).
	Config *v1alpha1.SparkplaneConfiguration
	// LogWriter receives the components' logs; nil writes them to
	// ComponentLogPath(Dir).
	LogWriter io.Writer
	// Progress receives a line per start-up step with the time since
	// start-up began (the first Spark install takes about a minute); nil
	// prints nothing.
	Progress io.Writer
	Log      logr.Logger
}

// Defaults returns options for three zones with one on-demand and two spot
// nodes each, process kubelets and the webhook on, component logs in dir.
func Defaults(dir string) Options {
	cfg := v1alpha1.Default()
	return Options{
		Dir: dir, Zones: []string{"zone-a", "zone-b", "zone-c"}, OnDemandPerZone: 1, SpotPerZone: 2,
		NodeCPU: "4", NodeMemory: "16Gi", Kubelet: KubeletProcess, Scheduler: SchedulerDefault, Webhook: true, Config: cfg,
		Log: logr.Discard(),
	}
}

// Node is a virtual node of the cluster: a static one, or one Karpenter
// launched.
type Node struct {
	Name     string
	Zone     string
	Capacity v1alpha1.CapacityType
	// InstanceType, NodePool and PricePerHour (from the generated catalog)
	// are set for nodes Karpenter launched.
	InstanceType string
	NodePool     string
	PricePerHour float64
	// Created is when the node was created; Deleted when it was seen gone
	// (zero while it lives).
	Created, Deleted time.Time
}

// Cluster is a running local cluster.
type Cluster struct {
	CP         *controlplane.ControlPlane
	Client     kubernetes.Interface
	Webhook    *webhook.Webhook
	Kubeconfig string
	Spark      *sparkdist.Dist
	opts       Options

	dir        *clusterDir
	logFile    *os.File // component log opened by Start, if any
	began      time.Time
	webhookURL string
	caBundle   []byte
	ips        *kubelet.IPPool
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	karpenter *KarpenterProcess        // nil without the autoscaler
	catalog   []karpenter.InstanceType // what Karpenter was given
	stopWatch func()                   // stops the node informer, if started

	mu       sync.Mutex
	nodes    map[string]Node // live nodes
	deleted  map[string]Node // nodes deleted (spot interruptions, scale-down), for past runs' zones
	kubelets map[string]context.CancelFunc
	stopping bool // Stop has begun: start no kubelet
}

// ErrInterrupted is returned by Start when its context was canceled (e.g.
// Ctrl-C) before the cluster was up.
var ErrInterrupted = errors.New("interrupted during start-up; stopped everything started")

// Start brings the cluster up. ctx bounds start-up only; call Stop. Options
// are validated before anything is written or started.
func Start(ctx context.Context, opts Options) (_ *Cluster, retErr error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	dir, err := claimDir(opts.Dir, opts.Recreate)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &Cluster{opts: opts, dir: dir, began: time.Now(), cancel: cancel, ips: kubelet.NewIPPool(),
		nodes: map[string]Node{}, deleted: map[string]Node{}, kubelets: map[string]context.CancelFunc{},
		Kubeconfig: filepath.Join(opts.Dir, kubeconfigFile)}
	defer func() {
		if retErr == nil {
			return
		}
		c.Stop()
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			retErr = ErrInterrupted
		case ctx.Err() != nil:
			retErr = fmt.Errorf("start-up did not finish in time; stopped everything started: %w", retErr)
		}
	}()
	if opts.LogWriter == nil {
		p := ComponentLogPath(opts.Dir)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("creating the component log directory: %w", err)
		}
		if c.logFile, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("opening the component log: %w", err)
		}
		opts.LogWriter, c.opts.LogWriter = c.logFile, c.logFile
	}

	// Karpenter's first build takes minutes: run it while Spark and the
	// control plane start.
	type built struct {
		bin string
		err error
	}
	var buildc chan built
	if opts.Autoscaler == AutoscalerKarpenter {
		buildc = make(chan built, 1)
		bin := opts.Karpenter.Binary
		c.progressf("finding Karpenter (hack/karpenter.sh; the first build takes about 5 minutes on 2 cores) ...")
		go func() {
			if bin != "" {
				buildc <- built{bin, checkKarpenterBinary(bin)}
				return
			}
			b, err := BuildKarpenter(ctx, opts.Progress)
			buildc <- built{b, err}
		}()
		defer func() {
			if buildc != nil {
				<-buildc // never leave the build running past Start
			}
		}()
	}

	if opts.Kubelet == KubeletProcess {
		c.progressf("finding Spark (hack/install-spark.sh; the first run installs pyspark, about a minute) ...")
		dist, err := sparkdist.FindWithProgress(ctx, opts.Progress)
		if err != nil {
			return nil, fmt.Errorf("finding Spark for the process kubelet (use --kubelet none to run without it): %w", err)
		}
		c.Spark = dist
		c.progressf("Spark %s at %s", dist.Version, dist.Home)
	}
	cpOpts := controlplane.Options{Scheduler: true, LogWriter: opts.LogWriter}
	if opts.Scheduler == SchedulerSparkplane {
		cfg := *opts.Config // the caller's configuration stays as it was
		cfg.SchedulerName = scheduler.SchedulerName
		opts.Config, c.opts.Config = &cfg, &cfg
		sched, err := scheduler.SchedulerOptions(scheduler.Config{Args: &scheduler.SparkGangArgs{Placement: &cfg}, DefaultProfile: true})
		if err != nil {
			return nil, fmt.Errorf("configuring the sparkplane scheduler: %w", err)
		}
		cpOpts.SchedulerOptions = sched
	}
	c.progressf("starting etcd, kube-apiserver and kube-scheduler (%s) ...", opts.Scheduler)
	cp, err := controlplane.Start(ctx, cpOpts)
	if err != nil {
		return nil, err
	}
	c.CP, c.Client = cp, cp.Client
	c.progressf("control plane up: API server %s", cp.Config.Host)
	if err := cp.WriteKubeconfig(c.Kubeconfig); err != nil {
		return nil, err
	}

	wh, url, ca, err := webhook.NewLocal(webhook.Options{Config: opts.Config, RestConfig: cp.Config, Log: opts.Log.WithName("webhook")}, opts.Dir)
	if err != nil {
		return nil, err
	}
	c.Webhook, c.webhookURL, c.caBundle = wh, url, ca
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := wh.Run(runCtx); err != nil {
			opts.Log.Error(err, "webhook stopped")
		}
	}()
	if opts.Webhook {
		c.progressf("registering the sparkplane webhook (%s) and waiting until it mutates Spark pods ...", url)
		if err := c.EnableWebhook(ctx); err != nil {
			return nil, err
		}
		c.progressf("webhook registered (%s, failurePolicy %s)", WebhookConfigurationName, webhookFailurePolicy)
	}

	if n := len(opts.Zones) * (opts.OnDemandPerZone + opts.SpotPerZone); n > 0 {
		c.progressf("starting %d static nodes (kubelet %s) ...", n, opts.Kubelet)
	}
	for _, z := range opts.Zones {
		for i := 0; i < opts.OnDemandPerZone; i++ {
			if _, err := c.AddNode(ctx, z, v1alpha1.CapacityOnDemand); err != nil {
				return nil, err
			}
		}
		for i := 0; i < opts.SpotPerZone; i++ {
			if _, err := c.AddNode(ctx, z, v1alpha1.CapacitySpot); err != nil {
				return nil, err
			}
		}
	}
	if buildc != nil {
		b := <-buildc
		buildc = nil
		if b.err != nil {
			return nil, fmt.Errorf("--autoscaler karpenter: %w", b.err)
		}
		if err := c.startKarpenter(ctx, b.bin); err != nil {
			return nil, fmt.Errorf("--autoscaler karpenter: %w", err)
		}
	}
	if len(c.Nodes()) > 0 {
		c.progressf("%d static nodes up", len(c.Nodes()))
	}
	return c, nil
}

// progressf prints one start-up step with the time since start-up began.
func (c *Cluster) progressf(format string, args ...any) {
	if c.opts.Progress == nil {
		return
	}
	fmt.Fprintf(c.opts.Progress, "[%5.1fs] %s\n", time.Since(c.began).Seconds(), fmt.Sprintf(format, args...))
}

// Validate checks the options without touching anything; errors name the
// flag of 'sparkplane local up' and what a valid value looks like.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("--dir: a state directory is required")
	case len(o.Zones) == 0:
		return fmt.Errorf("--zones: at least one zone is required, e.g. zone-a,zone-b,zone-c")
	case o.OnDemandPerZone < 0:
		return fmt.Errorf("--on-demand-per-zone %d: must be 0 or more", o.OnDemandPerZone)
	case o.SpotPerZone < 0:
		return fmt.Errorf("--spot-per-zone %d: must be 0 or more", o.SpotPerZone)
	case o.OnDemandPerZone+o.SpotPerZone == 0 && o.Autoscaler != AutoscalerKarpenter:
		return fmt.Errorf("--on-demand-per-zone and --spot-per-zone: at least one node per zone is required (or --autoscaler karpenter, which may start from none)")
	case o.Scheduler != SchedulerDefault && o.Scheduler != SchedulerSparkplane:
		return fmt.Errorf("--scheduler %q: use %q or %q", o.Scheduler, SchedulerDefault, SchedulerSparkplane)
	case o.Kubelet != KubeletProcess && o.Kubelet != KubeletNone:
		return fmt.Errorf("--kubelet %q: use %q or %q", o.Kubelet, KubeletProcess, KubeletNone)
	case o.Config == nil:
		return fmt.Errorf("a webhook configuration is required")
	}
	if err := o.validateAutoscaler(); err != nil {
		return err
	}
	if err := positiveQuantity("--node-cpu", o.NodeCPU, "4 or 500m"); err != nil {
		return err
	}
	if err := positiveQuantity("--node-memory", o.NodeMemory, "16Gi or 512Mi"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, z := range o.Zones {
		if seen[z] {
			return fmt.Errorf("--zones: zone %q is given twice; zone names must be distinct", z)
		}
		seen[z] = true
		// Zones name the nodes (<zone>-<capacity>-<n>) and label them.
		if errs := validation.IsDNS1123Label(z); len(errs) > 0 {
			return fmt.Errorf("--zones: zone %q: %s (e.g. zone-a)", z, strings.Join(errs, "; "))
		}
		if len(z) > 40 {
			return fmt.Errorf("--zones: zone %q: at most 40 characters (node names add a suffix)", z)
		}
	}
	return nil
}

func positiveQuantity(flag, s, example string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("%s %q: must be a positive quantity such as %s", flag, s, example)
	}
	return nil
}

// AddNode creates a node in zone with capacity type t and, with process
// kubelets, starts its kubelet.
func (c *Cluster) AddNode(ctx context.Context, zone string, t v1alpha1.CapacityType) (string, error) {
	return c.AddNodeWithCPU(ctx, zone, t, c.opts.NodeCPU)
}

// AddNodeWithCPU is AddNode with a node size of its own.
func (c *Cluster) AddNodeWithCPU(ctx context.Context, zone string, t v1alpha1.CapacityType, cpu string) (string, error) {
	c.mu.Lock()
	n := 0
	for _, nd := range c.nodes {
		if nd.Zone == zone && nd.Capacity == t {
			n++
		}
	}
	name := fmt.Sprintf("%s-%s-%d", zone, t, n)
	for c.nodes[name] != (Node{}) || c.deleted[name] != (Node{}) {
		n++
		name = fmt.Sprintf("%s-%s-%d", zone, t, n)
	}
	c.nodes[name] = Node{Name: name, Zone: zone, Capacity: t, Created: time.Now()}
	c.mu.Unlock()

	spec := controlplane.NodeSpec{Name: name, Zone: zone, CPU: cpu, Memory: c.opts.NodeMemory,
		Labels: c.opts.Config.Provider.NodeLabels(t)}
	if t == v1alpha1.CapacitySpot && c.opts.Config.Provider.Preset == v1alpha1.ProviderAKS {
		spec.Taints = []corev1.Taint{{Key: c.opts.Config.Provider.Label, Value: c.opts.Config.Provider.SpotValue, Effect: corev1.TaintEffectNoSchedule}}
	}
	if _, err := c.CP.CreateNode(ctx, spec); err != nil {
		return "", err
	}
	if c.opts.Kubelet == KubeletProcess {
		c.startKubelet(name)
	}
	return name, nil
}

// startKubelet runs a process kubelet for an existing Node until Stop or
// the Node's deletion.
func (c *Cluster) startKubelet(name string) {
	kctx, cancel := context.WithCancel(context.Background())
	k := kubelet.New(kubelet.Options{
		NodeName: name, Client: c.Client, Dir: c.NodeDir(name), IPs: c.ips, Spark: c.Spark,
		Kubeconfig: c.Kubeconfig, Log: c.opts.Log.WithName("kubelet"),
	})
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		cancel()
		return
	}
	c.kubelets[name] = cancel
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		// ErrNodeDeleted is how a spot interruption or a scale-down ends a
		// kubelet.
		if err := k.Run(kctx); err != nil && !errors.Is(err, kubelet.ErrNodeDeleted) {
			c.opts.Log.Error(err, "kubelet stopped", "node", name)
		}
	}()
}

// DeleteNode deletes a node, as a spot interruption does: its kubelet kills
// and removes its pods.
func (c *Cluster) DeleteNode(ctx context.Context, name string) error {
	if err := c.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("deleting node %s: %w", name, err)
	}
	c.nodeGone(name)
	return nil
}

// AllNodes lists live and deleted nodes.
func (c *Cluster) AllNodes() []Node {
	out := c.Nodes()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.deleted {
		out = append(out, n)
	}
	return out
}

// Nodes lists the cluster's nodes, sorted by name.
func (c *Cluster) Nodes() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NodeDir is a node's working directory.
func (c *Cluster) NodeDir(node string) string { return NodeDir(c.opts.Dir, node) }

// NodeDir is a node's working directory under a cluster directory.
func NodeDir(dir, node string) string { return filepath.Join(dir, nodesDir, node) }

// SparkSubmit returns a spark-submit command in cluster mode against this
// cluster, in namespace.
func (c *Cluster) SparkSubmit(ctx context.Context, namespace string, args []string) (*exec.Cmd, error) {
	if c.Spark == nil {
		return nil, fmt.Errorf("no Spark installation (the cluster runs with --kubelet none)")
	}
	return c.Spark.SubmitCommand(ctx, sparkdist.Cluster{APIServerURL: c.CP.Config.Host, Namespace: namespace, Kubeconfig: c.Kubeconfig}, args), nil
}

// Stop stops Karpenter (first, so that it launches or removes nothing
// while the rest stops), the kubelets (killing their processes), the webhook
// and the control plane, in that order, and waits for them. The directory
// keeps the pods' logs and is free for the next Start (with Recreate).
func (c *Cluster) Stop() {
	if c.karpenter != nil {
		if err := c.karpenter.Stop(); err != nil {
			c.opts.Log.Error(err, "stopping Karpenter")
		}
	}
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	if c.stopWatch != nil {
		c.stopWatch()
	}
	c.mu.Lock()
	for _, cancel := range c.kubelets {
		cancel()
	}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if c.CP != nil {
		c.CP.Stop()
	}
	if c.logFile != nil {
		c.logFile.Close()
	}
	c.dir.release()
}

// Dir is the cluster's state directory.
func (c *Cluster) Dir() string { return c.opts.Dir }
