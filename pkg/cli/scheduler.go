package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/scheduler"
)

// newSchedulerCommand is `sparkplane scheduler`: the kube-scheduler
// command (app.NewSchedulerCommand) with the SparkGang plugin, so every
// standard flag works (--config, --kubeconfig, --leader-elect*, serving,
// authentication, feature gates, logging). Without --config it runs the
// configuration `sparkplane scheduler config` prints.
func newSchedulerCommand() *cobra.Command {
	metrics := scheduler.NewMetrics()
	cmd := app.NewSchedulerCommand(app.WithPlugin(scheduler.PluginName, scheduler.NewFactory(metrics)))
	cmd.Use = "scheduler"
	cmd.Short = "Run the sparkplane scheduler: kube-scheduler with Spark gang scheduling and queues"
	cmd.Long = `Run the sparkplane scheduler: the standard kube-scheduler with the SparkGang
plugin, for pods whose spec.schedulerName is "` + scheduler.SchedulerName + `" (set it with
spark.kubernetes.scheduler.name, or let the webhook set it).

A Spark driver is bound only when it and its minimum executors fit, all in
one zone: their room is reserved together and held for the executors until
they arrive (or a timeout). Drivers start in FIFO order per queue (the
sparkplane.io/queue label, else the namespace), within each queue's maximum
and driver share. Spark pods are packed onto the fullest nodes so that
autoscalers can remove empty ones.

Every kube-scheduler flag works. Without --config, the configuration printed
by 'sparkplane scheduler config' is used (with --kubeconfig, --kube-api-* and
--profiling carried into it); write your own from it to set queue limits
(pluginConfig SparkGang). As with kube-scheduler, once --config is given the
deprecated flags are ignored: set clientConnection.kubeconfig in the file. Metrics are served on the scheduler's
/metrics endpoint (sparkplane_scheduler_*). See docs/scheduler.md.`
	cmd.Example = `  # In a cluster (leader election on the lease kube-system/` + scheduler.LeaderElectionLease + `):
  sparkplane scheduler --config /etc/sparkplane/scheduler.yaml

  # Against a kubeconfig, with the default configuration:
  sparkplane scheduler --kubeconfig ~/.kube/config --leader-elect=false

  # Start a configuration file from the defaults:
  sparkplane scheduler config > scheduler.yaml`
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if err := metrics.Register(legacyregistry.Registerer()); err != nil {
			return fmt.Errorf("registering the sparkplane scheduler metrics: %w", err)
		}
		if !c.Flags().Changed("config") {
			path, err := writeDefaultSchedulerConfig(c)
			if err != nil {
				return err
			}
			defer os.Remove(path)
			if err := c.Flags().Set("config", path); err != nil {
				return fmt.Errorf("setting --config: %w", err)
			}
			klog.Background().Info("No --config given: running the default sparkplane scheduler configuration ('sparkplane scheduler config' prints it)")
		}
		return run(c, args)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "config",
		Short: "Print the default KubeSchedulerConfiguration of the sparkplane scheduler",
		Long: `Print the KubeSchedulerConfiguration the sparkplane scheduler runs without
--config: a profile "` + scheduler.SchedulerName + `" with the default plugins plus
SparkGang, NodeResourcesFit scoring MostAllocated, SparkGang's args with every
default filled in, and a leader election lease of its own.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			out, err := scheduler.ConfigurationYAML(scheduler.Config{})
			if err != nil {
				return err
			}
			_, err = c.OutOrStdout().Write(out)
			return err
		},
	})
	return cmd
}

// writeDefaultSchedulerConfig writes the default configuration to a
// temporary file for --config. kube-scheduler ignores its deprecated flags
// (--kubeconfig, --kube-api-*, --profiling, --contention-profiling) once
// --config is given, so the ones set are carried into the file.
func writeDefaultSchedulerConfig(c *cobra.Command) (string, error) {
	data, err := scheduler.ConfigurationYAML(scheduler.Config{})
	if err != nil {
		return "", err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("reading the default scheduler configuration: %w", err)
	}
	conn := map[string]any{}
	for flag, field := range map[string]string{"kubeconfig": "kubeconfig", "kube-api-content-type": "contentType", "kube-api-qps": "qps", "kube-api-burst": "burst"} {
		if f := c.Flags().Lookup(flag); f != nil && f.Changed {
			var v any = f.Value.String()
			if flag == "kube-api-qps" || flag == "kube-api-burst" {
				n, err := strconv.ParseFloat(f.Value.String(), 64)
				if err != nil {
					return "", fmt.Errorf("--%s: %w", flag, err)
				}
				v = n
			}
			conn[field] = v
		}
	}
	if len(conn) > 0 {
		cfg["clientConnection"] = conn
	}
	for flag, field := range map[string]string{"profiling": "enableProfiling", "contention-profiling": "enableContentionProfiling"} {
		if f := c.Flags().Lookup(flag); f != nil && f.Changed {
			cfg[field] = f.Value.String() == "true"
		}
	}
	if data, err = yaml.Marshal(cfg); err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "sparkplane-scheduler-*.yaml")
	if err != nil {
		return "", fmt.Errorf("writing the default scheduler configuration: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("writing the default scheduler configuration: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing the default scheduler configuration: %w", err)
	}
	return f.Name(), nil
}
