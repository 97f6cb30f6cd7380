package devcli

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sparkplane/sparkplane/pkg/demo"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

func newDemoCommand() *cobra.Command {
	opts := demo.Options{Apps: 8, Executors: 6, TrafficGBPerExecutor: 10}
	simulated := false
	autoscaler := localcluster.AutoscalerNone
	dir := filepath.Join(defaultLocalDir(), "..", "demo")
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show, on a local multi-zone control plane, where Spark pods land without and with sparkplane",
		Long: `Start a local cluster in this process (real etcd, kube-apiserver,
kube-scheduler, the sparkplane webhook, 9 virtual nodes in three zones, on-demand
and spot, whose process kubelets run pods as local processes), run the same real
PySpark job twice with spark-submit (a shuffle under dynamic allocation, 1 to 4
executors): without, then with the sparkplane webhook. Print, per run, where the
driver and executors ran, cross-zone driver<->executor pairs, the job's result and
duration, and the cross-zone shuffle bytes with what they would cost.

Spark comes from PyPI's pyspark, installed once into a git-ignored cache by
hack/install-spark.sh; Java 17 is needed. No Docker, no cluster.

--autoscaler karpenter tells the same story on an autoscaled cluster: it starts
from zero nodes with the real Karpenter (KWOK provider, built once by
hack/karpenter.sh into .cache/, about 5 minutes on 2 cores), which launches a
node for every pod that fits nowhere and removes empty nodes 10s after their
last pod. Each run starts from zero nodes. It prints every node as it comes
and goes (zone, capacity type, instance type), where each executor ran, and per
run the nodes launched, their node-seconds and their cost at the generated
prices. A few minutes once Karpenter is built.

--simulated runs a quicker variant without JVMs: many apps of simulated Spark
pods (shaped as Spark creates them) on the same kind of cluster.

The components' logs go into the cluster directory (DIR/logs/components.log,
as with 'sparkplane local up'), unless --log-file says otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Apps < 1 || opts.Executors < 1 {
				return fmt.Errorf("--apps and --executors must be at least 1")
			}
			switch autoscaler {
			case localcluster.AutoscalerNone, localcluster.AutoscalerKarpenter:
			default:
				return fmt.Errorf("--autoscaler %q: use %s (9 fixed nodes) or %s (the real Karpenter, from zero nodes)", autoscaler, localcluster.AutoscalerNone, localcluster.AutoscalerKarpenter)
			}
			if simulated && autoscaler != localcluster.AutoscalerNone {
				return fmt.Errorf("--simulated and --autoscaler %s: the autoscaled demo runs real Spark; drop --simulated", autoscaler)
			}
			if opts.LogFile != "" {
				if err := os.MkdirAll(filepath.Dir(opts.LogFile), 0o755); err != nil {
					return fmt.Errorf("--log-file: %w", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if simulated {
				// No cluster directory: the simulated demo's control plane
				// lives in a temporary one.
				if opts.LogFile == "" {
					opts.LogFile = filepath.Join(os.TempDir(), "sparkplane-demo-simulated.log")
				}
				return demo.Run(ctx, cmd.OutOrStdout(), opts)
			}
			so := demo.SparkOptions{Dir: filepath.Clean(dir), LogFile: opts.LogFile}
			if autoscaler == localcluster.AutoscalerKarpenter {
				return demo.RunAutoscaled(ctx, cmd.OutOrStdout(), so)
			}
			return demo.RunSpark(ctx, cmd.OutOrStdout(), so)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&simulated, "simulated", false, "Simulated Spark pods instead of real JVMs (quick; no Java needed).")
	f.StringVar(&autoscaler, "autoscaler", autoscaler, "none: 9 fixed nodes; karpenter: start from zero nodes with the real Karpenter (built once by hack/karpenter.sh) and show nodes launched, their zones, capacity types, node-seconds and cost.")
	f.StringVar(&dir, "dir", filepath.Clean(dir), "State directory of the demo's local cluster.")
	f.IntVar(&opts.Apps, "apps", opts.Apps, "With --simulated: Spark apps per run.")
	f.IntVar(&opts.Executors, "executors", opts.Executors, "With --simulated: executors per app.")
	f.Float64Var(&opts.TrafficGBPerExecutor, "traffic-gb-per-executor", opts.TrafficGBPerExecutor, "With --simulated: assumed traffic per executor per run, in GB, for the cost column.")
	f.StringVar(&opts.LogFile, "log-file", "", "Where the components' logs go (default: DIR/logs/components.log; with --simulated a file in the temporary directory).")
	return cmd
}
