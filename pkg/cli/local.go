package cli

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
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
	"github.com/sparkplane/sparkplane/pkg/sparkdist"
)

func defaultLocalDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "sparkplane", "local")
	}
	return filepath.Join(os.TempDir(), "sparkplane-local")
}

func newLocalCommand() *cobra.Command {
	dir := defaultLocalDir()
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run a local multi-zone Kubernetes cluster that runs real Spark (no Docker)",
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", dir, "The local cluster's state directory (kubeconfig, pod directories and logs).")
	cmd.AddCommand(newLocalUpCommand(&dir), newLocalLogsCommand(&dir), newLocalSubmitCommand(&dir))
	return cmd
}

func newLocalUpCommand(dir *string) *cobra.Command {
	var (
		zones                        string
		onDemand, spot               int
		cpu, memory, kubelet, preset string
		kubeconfig, configFile       string
		webhookOn                    bool
		scheduler                    string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster and run until interrupted",
		Long: `Start, in this process, a real etcd, kube-apiserver and kube-scheduler, the
sparkplane webhook (registered with its CA bundle), and virtual nodes in
several zones, each on-demand or spot with the provider's node labels.

With --kubelet process (the default) every node runs the pods bound to it as
local processes: Spark driver and executor pods run as real JVMs (Spark comes
from PyPI's pyspark, installed once into a git-ignored cache by
hack/install-spark.sh; Java 17 is needed). Pods that are not Spark pods are
marked Running without executing anything. With --kubelet none pods are bound
and never run (for scheduling experiments at scale).

It prints one "ready" line with how to use the cluster, and runs until
SIGINT/SIGTERM; then it stops every process it started.`,
		Example: `  sparkplane local up --zones zone-a,zone-b,zone-c --spot-per-zone 2
  sparkplane local spark-submit -- --name demo local:///path/to/job.py`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := v1alpha1.Load(configFile)
			if err != nil {
				return err
			}
			if preset != "" {
				p, ok := v1alpha1.Preset(preset)
				if !ok {
					return fmt.Errorf("--provider %q: use karpenter, eks, gke or aks", preset)
				}
				cfg.Provider = p
				v1alpha1.SetDefaults(cfg)
			}
			opts := localcluster.Defaults(*dir)
			opts.Zones = splitList(zones)
			opts.OnDemandPerZone, opts.SpotPerZone, opts.NodeCPU, opts.NodeMemory = onDemand, spot, cpu, memory
			opts.Kubelet, opts.Webhook, opts.Config, opts.Scheduler = kubelet, webhookOn, cfg, scheduler
			logPath := filepath.Join(*dir+"-logs", "components.log")
			if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
				return err
			}
			logs, err := os.Create(logPath)
			if err != nil {
				return err
			}
			defer logs.Close()
			opts.LogWriter, opts.Log = logs, klog.NewKlogr()

			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			start := time.Now()
			fmt.Fprintf(out, "starting local cluster in %s (component logs: %s) ...\n", *dir, logPath)
			c, err := localcluster.Start(ctx, opts)
			if err != nil {
				return err
			}
			defer func() {
				fmt.Fprintln(out, "stopping: killing pod processes, then webhook, scheduler, apiserver, etcd ...")
				c.Stop()
				fmt.Fprintln(out, "stopped")
			}()
			if kubeconfig != "" {
				if err := copyFile(c.Kubeconfig, kubeconfig); err != nil {
					return err
				}
			} else {
				kubeconfig = c.Kubeconfig
			}
			printReady(out, c, opts, kubeconfig, time.Since(start))
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&zones, "zones", "zone-a,zone-b,zone-c", "Zones, comma separated.")
	f.IntVar(&onDemand, "on-demand-per-zone", 1, "On-demand nodes per zone.")
	f.IntVar(&spot, "spot-per-zone", 2, "Spot nodes per zone.")
	f.StringVar(&cpu, "node-cpu", "4", "Allocatable CPU of each node.")
	f.StringVar(&memory, "node-memory", "16Gi", "Allocatable memory of each node.")
	f.StringVar(&preset, "provider", "", "Provider preset for capacity-type node labels: karpenter (default), eks, gke, aks. Overrides --config.")
	f.StringVar(&kubelet, "kubelet", localcluster.KubeletProcess, "process: run pods as local processes (Spark as real JVMs); none: bind only.")
	f.BoolVar(&webhookOn, "webhook", true, "Register the sparkplane webhook (--webhook=false to compare without it).")
	f.StringVar(&scheduler, "scheduler", localcluster.SchedulerDefault, "default: the stock kube-scheduler; sparkplane: kube-scheduler with sparkplane's gang scheduling and queues (the webhook points Spark pods at it).")
	f.StringVar(&kubeconfig, "kubeconfig", "", "Also write the cluster's kubeconfig to this path.")
	f.StringVar(&configFile, "config", "", "SparkplaneConfiguration file for the webhook (see 'sparkplane config print-defaults').")
	return cmd
}

func printReady(out io.Writer, c *localcluster.Cluster, opts localcluster.Options, kubeconfig string, took time.Duration) {
	hook := "on"
	if !opts.Webhook {
		hook = "off"
	}
	fmt.Fprintf(out, "ready in %s: %d nodes in %d zones (%s), kubelet %s, webhook %s, API server %s\n",
		took.Round(100*time.Millisecond), len(c.Nodes()), len(opts.Zones), strings.Join(opts.Zones, ", "), opts.Kubelet, hook, c.CP.Config.Host)
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", kubeconfig)
	fmt.Fprintf(out, "  sparkplane local spark-submit --dir %s -- --name my-job local:///abs/path/to/job.py\n", opts.Dir)
	fmt.Fprintf(out, "  sparkplane local logs --dir %s POD\n", opts.Dir)
	fmt.Fprintln(out, "  Ctrl-C stops the cluster.")
}

func newLocalLogsCommand(dir *string) *cobra.Command {
	namespace := "default"
	cmd := &cobra.Command{
		Use:   "logs POD",
		Short: "Print the log of a pod that ran on the local cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := localcluster.LogFile(*dir, namespace, args[0])
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(cmd.OutOrStdout(), f)
			return err
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", namespace, "The pod's namespace.")
	return cmd
}

func newLocalSubmitCommand(dir *string) *cobra.Command {
	namespace := "default"
	cmd := &cobra.Command{
		Use:   "spark-submit -- ARGS",
		Short: "Run spark-submit in cluster mode against the local cluster",
		Long: `Run Spark's own spark-submit in cluster mode against the running local
cluster, with the master URL, credentials and image placeholder filled in.
Everything after -- goes to spark-submit unchanged. The application must be a
local:// path on this machine (the process kubelet runs the driver here).`,
		Example: `  sparkplane local spark-submit -- --name wordcount \
    --conf spark.executor.instances=2 local:///home/me/wordcount.py`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("give spark-submit's arguments after --, e.g. -- --name job local:///abs/path/job.py")
			}
			kubeconfig := filepath.Join(*dir, "kubeconfig")
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("reading %s (is 'sparkplane local up --dir %s' running?): %w", kubeconfig, *dir, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			dist, err := sparkdist.Find(ctx)
			if err != nil {
				return err
			}
			c := dist.SubmitCommand(ctx, sparkdist.Cluster{APIServerURL: cfg.Host, Namespace: namespace, Kubeconfig: kubeconfig}, args)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Run(); err != nil {
				return fmt.Errorf("spark-submit: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", namespace, "Namespace of the driver and executors.")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
