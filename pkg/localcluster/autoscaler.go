package localcluster

import (
	"context"

	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/karpenter"
)

// Autoscalers.
const (
	// AutoscalerNone: the nodes are the static ones, none come or go.
	AutoscalerNone = "none"
	// AutoscalerKarpenter runs the real Karpenter (KWOK provider) as a child
	// process; every node it launches gets a kubelet.
	AutoscalerKarpenter = "karpenter"
)

// NodeClassName is the KWOKNodeClass every NodePool of the local cluster uses.
const NodeClassName = "local"

// KarpenterOptions configure the autoscaler of a cluster with
// Autoscaler == AutoscalerKarpenter.
type KarpenterOptions struct {
	// Binary is a built Karpenter (KWOK provider) with its CRDs in crds/
	// next to it; empty: $SPARKPLANE_KARPENTER, else hack/karpenter.sh
	// builds one into .cache/.
	Binary string
	// NodePools are the pools Karpenter may launch nodes from; empty:
	// DefaultNodePools(). A pool naming no NodeClass uses NodeClassName.
	NodePools []karpenter.NodePoolOptions
	// NoSpotZones are zones where the generated instance types offer no
	// spot at all (beyond the catalog's own gap: no r5 spot in the last zone).
	NoSpotZones []string
	// RegistrationDelay models instance start-up: how long the provider
	// waits before it creates a launched node's Node object (whole seconds).
	RegistrationDelay time.Duration
	// LogLevel is Karpenter's LOG_LEVEL: debug, info (default) or error.
	LogLevel string
}

// DefaultNodePools is one pool, "default", that may launch spot and
// on-demand nodes in every zone, consolidating empty or underutilized nodes
// after 30s, all at once (budget 100%), as a cost-minded EKS setup does.
func DefaultNodePools() []karpenter.NodePoolOptions {
	return []karpenter.NodePoolOptions{{
		Name: "default", NodeClass: NodeClassName,
		CapacityTypes:       []string{karpenter.CapacitySpot, karpenter.CapacityOnDemand},
		ConsolidationPolicy: karpenter.ConsolidateWhenEmptyOrUnderutilized, ConsolidateAfter: "30s",
		Budgets: []karpenter.Budget{{Nodes: "100%"}},
	}}
}

// validateAutoscaler checks the autoscaler options; errors name the flag.
func (o Options) validateAutoscaler() error {
	switch o.Autoscaler {
	case "", AutoscalerNone:
		if len(o.Karpenter.NodePools) > 0 || len(o.Karpenter.NoSpotZones) > 0 || o.Karpenter.Binary != "" {
			return fmt.Errorf("--autoscaler: node pools, --no-spot-zones and --karpenter-binary need --autoscaler %s", AutoscalerKarpenter)
		}
		return nil
	case AutoscalerKarpenter:
	default:
		return fmt.Errorf("--autoscaler %q: use %s (static nodes only) or %s (the real Karpenter, KWOK provider)", o.Autoscaler, AutoscalerNone, AutoscalerKarpenter)
	}
	if o.Config != nil && o.Config.Provider.Label != karpenter.LabelCapacityType {
		return fmt.Errorf("--autoscaler %s: Karpenter's nodes carry %s, but the webhook configuration's provider (preset %q) uses %q; use provider preset %s",
			AutoscalerKarpenter, karpenter.LabelCapacityType, o.Config.Provider.Preset, o.Config.Provider.Label, v1alpha1.ProviderKarpenter)
	}
	if _, err := karpenter.InstanceTypes(karpenter.CatalogOptions{Zones: o.Zones, NoSpotZones: o.Karpenter.NoSpotZones}); err != nil {
		return fmt.Errorf("--no-spot-zones: %w", err)
	}
	switch o.Karpenter.LogLevel {
	case "", "debug", "info", "error":
	default:
		return fmt.Errorf("--karpenter-log-level %q: use debug, info or error", o.Karpenter.LogLevel)
	}
	if o.Karpenter.RegistrationDelay < 0 || o.Karpenter.RegistrationDelay%time.Second != 0 {
		return fmt.Errorf("--registration-delay %s: use a whole number of seconds, 0 or more", o.Karpenter.RegistrationDelay)
	}
	seen := map[string]bool{}
	for i, p := range o.pools() {
		if p.NodeClass == "" {
			p.NodeClass = NodeClassName
		}
		if _, err := karpenter.RenderNodePool(p); err != nil {
			return fmt.Errorf("node pool %d: %w", i, err)
		}
		if seen[p.Name] {
			return fmt.Errorf("node pool %d: the name %q is used twice", i, p.Name)
		}
		seen[p.Name] = true
		for _, z := range p.Zones {
			if !slices.Contains(o.Zones, z) {
				return fmt.Errorf("node pool %q: zone %q is not one of --zones %s", p.Name, z, strings.Join(o.Zones, ","))
			}
		}
	}
	return nil
}

func (o Options) pools() []karpenter.NodePoolOptions {
	if len(o.Karpenter.NodePools) > 0 {
		return o.Karpenter.NodePools
	}
	return DefaultNodePools()
}

// NodePools are the pools the cluster's Karpenter launches nodes from (nil
// without an autoscaler).
func (c *Cluster) NodePools() []karpenter.NodePoolOptions {
	if c.opts.Autoscaler != AutoscalerKarpenter {
		return nil
	}
	return c.opts.pools()
}

// Catalog is the instance types Karpenter was given (nil without it).
func (c *Cluster) Catalog() []karpenter.InstanceType { return c.catalog }

// KarpenterLog is the path of Karpenter's log ("" without it).
func (c *Cluster) KarpenterLog() string {
	if c.opts.Autoscaler != AutoscalerKarpenter {
		return ""
	}
	return KarpenterLogPath(c.opts.Dir)
}

// KarpenterLogPath is where a cluster directory keeps Karpenter's log.
func KarpenterLogPath(dir string) string { return filepath.Join(dir, logsDir, "karpenter.log") }

// startKarpenter applies Karpenter's CRDs, its node class and pools, writes
// the instance types made from the zones, starts watching for the nodes it
// launches and starts it. bin is the built binary.
func (c *Cluster) startKarpenter(ctx context.Context, bin string) error {
	o := c.opts
	dyn, err := dynamic.NewForConfig(c.CP.Config)
	if err != nil {
		return err
	}
	c.progressf("applying Karpenter's CRDs, KWOKNodeClass %q and %d NodePool(s) ...", NodeClassName, len(o.pools()))
	if err := ApplyKarpenterCRDs(ctx, dyn, KarpenterCRDDir(bin)); err != nil {
		return err
	}
	if err := ApplyNodeClassAndPools(ctx, dyn, karpenter.NodeClassOptions{Name: NodeClassName, RegistrationDelay: o.Karpenter.RegistrationDelay}, o.pools()); err != nil {
		return err
	}
	catalog, err := karpenter.InstanceTypes(karpenter.CatalogOptions{Zones: o.Zones, NoSpotZones: o.Karpenter.NoSpotZones})
	if err != nil {
		return err
	}
	c.catalog = catalog
	kdir := filepath.Join(o.Dir, karpenterDir)
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		return err
	}
	typesFile := filepath.Join(kdir, "instance-types.json")
	data, err := karpenter.InstanceTypesJSON(karpenter.CatalogOptions{Zones: o.Zones, NoSpotZones: o.Karpenter.NoSpotZones})
	if err != nil {
		return err
	}
	if err := os.WriteFile(typesFile, data, 0o644); err != nil {
		return fmt.Errorf("writing Karpenter's instance types: %w", err)
	}
	// The pools as applied, for the user to read.
	if pools, err := yaml.Marshal(karpenter.NodePoolsFile{NodePools: o.pools()}); err == nil {
		_ = os.WriteFile(filepath.Join(kdir, "nodepools.yaml"), pools, 0o644)
	}

	if err := c.watchNodes(); err != nil {
		return err
	}
	c.progressf("starting Karpenter %s (log: %s) ...", filepath.Base(filepath.Dir(bin)), KarpenterLogPath(o.Dir))
	k, err := StartKarpenter(ctx, KarpenterProcessOptions{
		Binary: bin, Kubeconfig: c.Kubeconfig, InstanceTypesFile: typesFile,
		LogPath: KarpenterLogPath(o.Dir), LogLevel: o.Karpenter.LogLevel,
	})
	if err != nil {
		return err
	}
	c.karpenter = k
	c.progressf("Karpenter %s up", k.Version)
	return nil
}

// watchNodes starts a node informer: a node the KWOK provider creates gets
// a kubelet (or, with --kubelet none, a Ready condition) and is recorded; a
// deleted node is recorded as gone (its kubelet ends on its own).
func (c *Cluster) watchNodes() error {
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	inf := factory.Core().V1().Nodes().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.nodeSeen(obj) },
		UpdateFunc: func(_, obj any) { c.nodeSeen(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				c.nodeGone(n.Name)
			}
		},
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopWatch = func() { cancel(); factory.Shutdown() }
	factory.Start(ctx.Done())
	return nil
}

// nodeSeen adopts a node the KWOK provider created, once.
func (c *Cluster) nodeSeen(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok || !strings.HasPrefix(n.Spec.ProviderID, karpenter.ProviderIDPrefix) || n.DeletionTimestamp != nil {
		return
	}
	c.mu.Lock()
	if _, known := c.nodes[n.Name]; known || c.deleted[n.Name] != (Node{}) || c.stopping {
		c.mu.Unlock()
		return
	}
	rec := Node{
		Name: n.Name, Zone: n.Labels[c.opts.Config.ZoneLabel], Capacity: v1alpha1.CapacityType(n.Labels[karpenter.LabelCapacityType]),
		InstanceType: n.Labels[corev1.LabelInstanceTypeStable], NodePool: n.Labels[karpenter.LabelNodePool], Created: n.CreationTimestamp.Time,
	}
	rec.PricePerHour, _ = karpenter.Price(c.catalog, rec.InstanceType, rec.Zone, string(rec.Capacity))
	c.nodes[n.Name] = rec
	if c.opts.Kubelet != KubeletProcess {
		c.wg.Add(1) // under mu: Stop waits only after it has set stopping
	}
	c.mu.Unlock()
	c.opts.Log.Info("Karpenter launched a node", "node", n.Name, "zone", rec.Zone, "capacityType", rec.Capacity, "instanceType", rec.InstanceType)
	if c.opts.Kubelet == KubeletProcess {
		c.startKubelet(n.Name)
		return
	}
	// No kubelet: mark it Ready, all Karpenter waits for to initialize it.
	go func() {
		defer c.wg.Done()
		if err := markReady(context.Background(), c, n.Name); err != nil {
			c.opts.Log.Error(err, "marking node Ready", "node", n.Name)
		}
	}()
}

func markReady(ctx context.Context, c *Cluster, name string) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		now := metav1.Now()
		n.Status.Conditions = append(slices.DeleteFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool { return c.Type == corev1.NodeReady }),
			corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "sparkplane local cluster (--kubelet none)", LastHeartbeatTime: now, LastTransitionTime: now})
		_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// nodeGone records a node's deletion.
func (c *Cluster) nodeGone(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		return
	}
	n.Deleted = time.Now()
	c.deleted[name] = n
	delete(c.nodes, name)
}
