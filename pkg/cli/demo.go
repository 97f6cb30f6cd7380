package cli

import (
	"fmt"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sparkplane/sparkplane/pkg/demo"
)

func newDemoCommand() *cobra.Command {
	opts := demo.Options{Apps: 8, Executors: 6, TrafficGBPerExecutor: 10}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show, on a local multi-zone control plane, where Spark pods land without and with sparkplane",
		Long: `Start a real etcd, kube-apiserver and kube-scheduler in this process, add
virtual nodes in three zones (on-demand and spot), submit the same Spark apps
twice (without, then with the sparkplane webhook) and print where drivers and
executors landed and what the cross-zone traffic would cost.

Nothing needs to be installed: no Docker, no cluster. Spark pods are simulated
(shaped as Spark creates them); no JVM runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Apps < 1 || opts.Executors < 1 {
				return fmt.Errorf("--apps and --executors must be at least 1")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Apps, "apps", opts.Apps, "Spark apps per run.")
	f.IntVar(&opts.Executors, "executors", opts.Executors, "Executors per app.")
	f.Float64Var(&opts.TrafficGBPerExecutor, "traffic-gb-per-executor", opts.TrafficGBPerExecutor, "Assumed driver<->executor and shuffle traffic per executor per run, in GB, for the cost column.")
	f.StringVar(&opts.LogFile, "log-file", filepath.Join("bin", "demo-components.log"), "Where the control plane's and webhook's logs go.")
	return cmd
}
