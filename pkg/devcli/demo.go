package devcli

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sparkplane/sparkplane/pkg/demo"
)

func newDemoCommand() *cobra.Command {
	opts := demo.Options{Apps: 8, Executors: 6, TrafficGBPerExecutor: 10}
	simulated := false
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

--simulated runs a quicker variant without JVMs: many apps of simulated Spark
pods (shaped as Spark creates them) on the same kind of cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Apps < 1 || opts.Executors < 1 {
				return fmt.Errorf("--apps and --executors must be at least 1")
			}
			if opts.LogFile == "" {
				opts.LogFile = filepath.Join(filepath.Clean(dir)+"-logs", "components.log")
			}
			if err := os.MkdirAll(filepath.Dir(opts.LogFile), 0o755); err != nil {
				return fmt.Errorf("--log-file: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if simulated {
				return demo.Run(ctx, cmd.OutOrStdout(), opts)
			}
			return demo.RunSpark(ctx, cmd.OutOrStdout(), demo.SparkOptions{Dir: filepath.Clean(dir), LogFile: opts.LogFile})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&simulated, "simulated", false, "Simulated Spark pods instead of real JVMs (quick; no Java needed).")
	f.StringVar(&dir, "dir", filepath.Clean(dir), "State directory of the demo's local cluster.")
	f.IntVar(&opts.Apps, "apps", opts.Apps, "With --simulated: Spark apps per run.")
	f.IntVar(&opts.Executors, "executors", opts.Executors, "With --simulated: executors per app.")
	f.Float64Var(&opts.TrafficGBPerExecutor, "traffic-gb-per-executor", opts.TrafficGBPerExecutor, "With --simulated: assumed traffic per executor per run, in GB, for the cost column.")
	f.StringVar(&opts.LogFile, "log-file", "", "Where the components' logs go (default: DIR-logs/components.log).")
	return cmd
}
