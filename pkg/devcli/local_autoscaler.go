package devcli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// autoscalerFlags are the flags of 'local up' that configure Karpenter.
type autoscalerFlags struct {
	autoscaler, binary, poolFile, logLevel string
	noSpotZones                            string
	policy, after, budget, capacity, cpu   string
	registrationDelay                      time.Duration
}

func (a *autoscalerFlags) add(f *pflag.FlagSet) {
	f.StringVar(&a.autoscaler, "autoscaler", localcluster.AutoscalerNone, "none: static nodes only; karpenter: run the real Karpenter (KWOK provider, built once by hack/karpenter.sh into .cache/), which launches nodes for pending pods (each gets a kubelet) and removes them; static nodes then default to 0.")
	f.StringVar(&a.binary, "karpenter-binary", "", "A built Karpenter (KWOK provider) with its CRDs in crds/ next to it (default: $"+localcluster.EnvKarpenterBinary+", else hack/karpenter.sh builds one).")
	f.StringVar(&a.poolFile, "nodepool-file", "", "YAML file of NodePools (nodePools: [{name, capacityTypes, zones, consolidationPolicy, consolidateAfter, budgets, limits, weight, labels}]); replaces the default pool and the pool flags below.")
	f.StringVar(&a.capacity, "capacity-types", "spot,on-demand", "Capacity types the default NodePool may launch.")
	f.StringVar(&a.policy, "consolidation-policy", karpenter.ConsolidateWhenEmptyOrUnderutilized, "The default NodePool's consolidation policy: WhenEmpty, WhenEmptyOrUnderutilized or Balanced.")
	f.StringVar(&a.after, "consolidate-after", "30s", "How long a node must be empty or underutilized before Karpenter consolidates it (30s, 5m, Never).")
	f.StringVar(&a.budget, "disruption-budget", "100%", "How many of the default NodePool's nodes Karpenter may disrupt at once: a count (3) or a percentage (10%, Karpenter's own default).")
	f.StringVar(&a.cpu, "cpu-limit", "", "Total CPU the default NodePool may launch (e.g. 64); none by default. At the limit Karpenter stops provisioning.")
	f.StringVar(&a.noSpotZones, "no-spot-zones", "", "Zones, comma separated, where the generated instance types offer no spot (as when a zone's spot capacity is exhausted).")
	f.DurationVar(&a.registrationDelay, "registration-delay", 0, "How long a launched node takes to appear (instance start-up), whole seconds.")
	f.StringVar(&a.logLevel, "karpenter-log-level", "info", "Karpenter's log level: debug, info or error.")
}

// options fills opts' autoscaler settings from the flags; changed says
// which flags were given.
func (a *autoscalerFlags) options(opts *localcluster.Options, changed func(string) bool) error {
	opts.Autoscaler = a.autoscaler
	if a.autoscaler != localcluster.AutoscalerKarpenter {
		for _, name := range []string{"karpenter-binary", "nodepool-file", "capacity-types", "consolidation-policy", "consolidate-after", "disruption-budget", "cpu-limit", "no-spot-zones", "registration-delay", "karpenter-log-level"} {
			if changed(name) {
				return fmt.Errorf("--%s needs --autoscaler %s", name, localcluster.AutoscalerKarpenter)
			}
		}
		return nil
	}
	// An autoscaled cluster starts from zero nodes unless asked otherwise.
	if !changed("on-demand-per-zone") {
		opts.OnDemandPerZone = 0
	}
	if !changed("spot-per-zone") {
		opts.SpotPerZone = 0
	}
	k := &opts.Karpenter
	k.Binary, k.LogLevel, k.RegistrationDelay = a.binary, a.logLevel, a.registrationDelay
	k.NoSpotZones = splitList(a.noSpotZones)
	if a.poolFile != "" {
		for _, name := range []string{"capacity-types", "consolidation-policy", "consolidate-after", "disruption-budget", "cpu-limit"} {
			if changed(name) {
				return fmt.Errorf("--%s and --nodepool-file: set the pool's settings in the file (or drop --nodepool-file)", name)
			}
		}
		data, err := os.ReadFile(a.poolFile)
		if err != nil {
			return fmt.Errorf("--nodepool-file: %w", err)
		}
		pools, err := karpenter.ParseNodePools(data, localcluster.NodeClassName)
		if err != nil {
			return fmt.Errorf("--nodepool-file %s: %w", a.poolFile, err)
		}
		k.NodePools = pools
		return nil
	}
	pool := localcluster.DefaultNodePools()[0]
	pool.CapacityTypes = splitList(a.capacity)
	if len(pool.CapacityTypes) == 0 {
		return fmt.Errorf("--capacity-types: give spot, on-demand or both (spot,on-demand)")
	}
	pool.ConsolidationPolicy, pool.ConsolidateAfter = a.policy, a.after
	pool.Budgets = []karpenter.Budget{{Nodes: a.budget}}
	if a.cpu != "" {
		pool.Limits = map[string]string{"cpu": a.cpu}
	}
	// Name errors by flag, not by the pool's field.
	if _, err := karpenter.RenderNodePool(pool); err != nil {
		msg := err.Error()
		for field, flag := range map[string]string{"capacityTypes": "--capacity-types", "consolidationPolicy": "--consolidation-policy", "consolidateAfter": "--consolidate-after", "budgets[0].nodes": "--disruption-budget", "limits[cpu]": "--cpu-limit"} {
			if strings.Contains(msg, ": "+field) {
				return fmt.Errorf("%s: %s", flag, msg)
			}
		}
		return err
	}
	k.NodePools = []karpenter.NodePoolOptions{pool}
	return nil
}

// printPools prints the NodePools and where Karpenter's log is.
func printPools(out io.Writer, c *localcluster.Cluster) {
	if c.KarpenterLog() == "" {
		return
	}
	fmt.Fprintf(out, "  Karpenter launches nodes for pending pods (log: %s); NodePools:\n", c.KarpenterLog())
	for _, p := range c.NodePools() {
		ct := strings.Join(p.CapacityTypes, ",")
		if ct == "" {
			ct = "spot,on-demand"
		}
		zones := strings.Join(p.Zones, ",")
		if zones == "" {
			zones = "all zones"
		}
		after := p.ConsolidateAfter
		if after == "" {
			after = "0s"
		}
		policy := p.ConsolidationPolicy
		if policy == "" {
			policy = karpenter.ConsolidateWhenEmptyOrUnderutilized
		}
		budget := "10%"
		if len(p.Budgets) > 0 {
			budget = p.Budgets[0].Nodes
		}
		limits := ""
		if cpu, ok := p.Limits["cpu"]; ok {
			limits = ", cpu limit " + cpu
		}
		fmt.Fprintf(out, "    %-10s %s in %s; consolidation %s after %s, budget %s%s\n", p.Name, ct, zones, policy, after, budget, limits)
	}
	fmt.Fprintf(out, "  sparkplane local interrupt --dir %s NODE   # a spot interruption, the Karpenter way\n", c.Dir())
}

func newLocalInterruptCommand(dir *string) *cobra.Command {
	notice := localcluster.DefaultInterruptNotice
	cmd := &cobra.Command{
		Use:   "interrupt NODE",
		Short: "Interrupt a node of the local cluster as a spot interruption does",
		Long: `Do to a node of the running local cluster what an AWS spot interruption
does. For a node Karpenter launched (--autoscaler karpenter) it is what
Karpenter's interruption handling does: the node's NodeClaim is deleted, and
Karpenter taints the node, evicts its pods through the Eviction API (each
with its grace period, so Spark executors can decommission) and removes the
node; Spark's replacement executors then make Karpenter launch a new node.
For a static node, the node is cordoned, its pods evicted and the node
deleted.

When --notice runs out the instance is gone, as on AWS two minutes after the
notice: pods still on the node are deleted at once (a driver protected from
voluntary disruption is not protected from this).`,
		Example: `  kubectl get nodes -L topology.kubernetes.io/zone,karpenter.sh/capacity-type
  sparkplane local interrupt kwok-default-abc12
  sparkplane local interrupt --notice 30s zone-a-spot-0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if notice <= 0 {
				return fmt.Errorf("--notice %s: give a positive duration such as 2m", notice)
			}
			if running, _ := localcluster.Running(*dir); !running {
				return fmt.Errorf("no local cluster runs in --dir %s: start one with 'sparkplane local up --dir %s'", *dir, *dir)
			}
			kubeconfig := filepath.Join(*dir, "kubeconfig")
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("reading %s: %w", kubeconfig, err)
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			_, err = localcluster.Interrupt(ctx, client, dyn, args[0], localcluster.InterruptOptions{Notice: notice, Progress: cmd.OutOrStdout()})
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; the interruption may be under way (kubectl get node %s)", args[0])
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&notice, "notice", notice, "How long the node may drain before its instance is gone (AWS gives 2m).")
	return cmd
}
