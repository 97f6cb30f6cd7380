package devcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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
	cmd.PersistentFlags().StringVar(&dir, "dir", dir, "The local cluster's state directory (kubeconfig, pod directories and logs): new, empty, or an earlier local cluster's.")
	cmd.AddCommand(newLocalUpCommand(&dir), newLocalLogsCommand(&dir), newLocalSubmitCommand(&dir), newLocalInterruptCommand(&dir))
	return cmd
}

func newLocalUpCommand(dir *string) *cobra.Command {
	var (
		zones                        string
		onDemand, spot               int
		cpu, memory, kubelet, preset string
		kubeconfig, configFile       string
		webhookOn, recreate          bool
		scheduler                    string
		auto                         autoscalerFlags
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster and run until interrupted",
		Long: `Start, in this process, a real etcd, kube-apiserver and kube-scheduler, the
sparkplane webhook (registered with its CA bundle, as the Helm chart registers
it), and virtual nodes in several zones, each on-demand or spot with the
provider's node labels.

With --kubelet process (the default) every node runs the pods bound to it as
local processes: Spark driver and executor pods run as real JVMs (Spark comes
from PyPI's pyspark, installed once into a git-ignored cache by
hack/install-spark.sh; Java 17 is needed). Pods that are not Spark pods are
marked Running without executing anything. With --kubelet none pods are bound
and never run (for scheduling experiments at scale).

--dir must be a new or empty directory, or the directory of an earlier
cluster: sparkplane marks the directories it creates (.sparkplane-cluster)
and refuses any other, so it never deletes files it did not write. An
earlier cluster's directory keeps its pods' logs after it stops ('local
logs'); starting again there needs --recreate, which deletes that cluster's
files (and only those). Two clusters never share a directory: a second
'local up' on a running cluster's directory fails at once.

With --autoscaler karpenter the cluster runs the real Karpenter (its KWOK
cloud provider, built once from the Go module proxy by hack/karpenter.sh into
.cache/; the first build takes about 5 minutes) as a child process, with
instance types generated from --zones (c5/m5/r5 shapes of 2 to 32 vCPU; spot
cheaper than on-demand, by a discount that differs by zone; no r5 spot in
the last zone; no spot at all in --no-spot-zones) and one NodePool, or the
pools of --nodepool-file. It starts with no static nodes (unless
--on-demand-per-zone/--spot-per-zone say otherwise): Karpenter launches nodes
for pending pods, each gets a process kubelet, and removes them when they are
empty or underutilized; a removed node's pods end as on a real node loss.
'sparkplane local interrupt NODE' interrupts a node as a spot interruption
does. Karpenter is stopped first on shutdown.

Flags are checked before anything starts. It prints a line per start-up step
(the first run installs pyspark, about a minute), one "ready" line with how to
use the cluster, and runs until SIGINT/SIGTERM; then it stops every process
it started.`,
		Example: `  sparkplane local up --zones zone-a,zone-b,zone-c --spot-per-zone 2
  sparkplane local up --recreate          # start again in the same --dir
  sparkplane local up --autoscaler karpenter --consolidate-after 10s
  sparkplane local up --autoscaler karpenter --nodepool-file pools.yaml
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
			opts := localcluster.Defaults(filepath.Clean(*dir))
			opts.Recreate = recreate
			opts.Zones = splitList(zones)
			opts.OnDemandPerZone, opts.SpotPerZone, opts.NodeCPU, opts.NodeMemory = onDemand, spot, cpu, memory
			opts.Kubelet, opts.Webhook, opts.Config, opts.Scheduler = kubelet, webhookOn, cfg, scheduler
			if err := auto.options(&opts, cmd.Flags().Changed); err != nil {
				return err
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			if kubeconfig != "" {
				if fi, err := os.Stat(kubeconfig); err == nil && fi.IsDir() {
					return fmt.Errorf("--kubeconfig %s: is a directory; give a file path", kubeconfig)
				}
			}
			out := cmd.OutOrStdout()
			opts.Log, opts.Progress = klog.NewKlogr(), out

			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			fmt.Fprintf(out, "starting local cluster in %s (component logs: %s) ...\n", opts.Dir, localcluster.ComponentLogPath(opts.Dir))
			c, err := localcluster.Start(ctx, opts)
			if err != nil {
				return err
			}
			defer func() {
				if opts.Autoscaler == localcluster.AutoscalerKarpenter {
					fmt.Fprintln(out, "stopping: Karpenter, then pod processes, webhook, scheduler, apiserver, etcd ...")
				} else {
					fmt.Fprintln(out, "stopping: killing pod processes, then webhook, scheduler, apiserver, etcd ...")
				}
				c.Stop()
				fmt.Fprintf(out, "stopped; pod logs stay in %s ('sparkplane local logs --dir %s POD'); 'local up --recreate' starts afresh there\n", opts.Dir, opts.Dir)
			}()
			if kubeconfig != "" {
				if err := copyFile(c.Kubeconfig, kubeconfig); err != nil {
					return fmt.Errorf("--kubeconfig: %w", err)
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
	f.StringVar(&zones, "zones", "zone-a,zone-b,zone-c", "Zones, comma separated (lowercase letters, digits and '-').")
	f.IntVar(&onDemand, "on-demand-per-zone", 1, "On-demand nodes per zone.")
	f.IntVar(&spot, "spot-per-zone", 2, "Spot nodes per zone.")
	f.StringVar(&cpu, "node-cpu", "4", "Allocatable CPU of each node, a Kubernetes quantity (e.g. 4, 500m).")
	f.StringVar(&memory, "node-memory", "16Gi", "Allocatable memory of each node, a Kubernetes quantity (e.g. 16Gi, 512Mi).")
	f.StringVar(&preset, "provider", "", "Provider preset for capacity-type node labels: karpenter (default), eks, gke, aks. Overrides --config.")
	f.StringVar(&kubelet, "kubelet", localcluster.KubeletProcess, "process: run pods as local processes (Spark as real JVMs); none: bind only.")
	f.BoolVar(&webhookOn, "webhook", true, "Register the sparkplane webhook (--webhook=false to compare without it).")
	f.StringVar(&scheduler, "scheduler", localcluster.SchedulerDefault, "default: the stock kube-scheduler; sparkplane: kube-scheduler with sparkplane's gang scheduling and queues (the webhook points Spark pods at it).")
	f.StringVar(&kubeconfig, "kubeconfig", "", "Also write the cluster's kubeconfig to this path.")
	f.StringVar(&configFile, "config", "", "SparkplaneConfiguration file for the webhook (see 'sparkplane config print-defaults').")
	auto.add(f)
	f.BoolVar(&recreate, "recreate", false, "Replace the earlier cluster in --dir: delete its kubeconfig, node and pod directories and logs (nothing else) and start afresh.")
	return cmd
}

func printReady(out io.Writer, c *localcluster.Cluster, opts localcluster.Options, kubeconfig string, took time.Duration) {
	hook := "on"
	if !opts.Webhook {
		hook = "off"
	}
	fmt.Fprintf(out, "ready in %s: %d nodes in %d zones (%s), kubelet %s, webhook %s, API server %s\n",
		took.Round(100*time.Millisecond), len(c.Nodes()), len(opts.Zones), strings.Join(opts.Zones, ", "), opts.Kubelet, hook, c.CP.Config.Host)
	printPools(out, c)
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", kubeconfig)
	fmt.Fprintf(out, "  sparkplane local spark-submit --dir %s -- --name my-job local:///abs/path/to/job.py\n", opts.Dir)
	fmt.Fprintf(out, "  sparkplane local logs --dir %s [-f] POD\n", opts.Dir)
	fmt.Fprintln(out, "  Ctrl-C stops the cluster.")
}

func newLocalLogsCommand(dir *string) *cobra.Command {
	namespace := "default"
	var (
		follow bool
		tail   int
	)
	cmd := &cobra.Command{
		Use:   "logs POD",
		Short: "Print the log of a pod that runs or ran on the local cluster",
		Long: `Print the log (stdout and stderr) of a pod that runs or ran on a process
kubelet of the local cluster. Logs of pods that ended or were deleted stay in
the cluster directory, also after the cluster stopped, until the directory is
deleted or 'local up --recreate' replaces the cluster.

-f follows the log until the pod ends or is deleted (or Ctrl-C); it waits for
a pod that has not started yet.`,
		Example: `  sparkplane local logs -n spark my-app-driver
  sparkplane local logs -f --tail 20 my-app-driver`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail < -1 {
				return fmt.Errorf("--tail %d: give a number of lines (0 or more), or -1 for all", tail)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ended := podEnded(*dir, namespace, args[0])
			path, err := localcluster.LogFile(*dir, namespace, args[0])
			for follow && errors.Is(err, os.ErrNotExist) && ctx.Err() == nil {
				// Not started yet: wait while the pod may still start.
				if done, _ := ended(ctx); done {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
				path, err = localcluster.LogFile(*dir, namespace, args[0])
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			return localcluster.FollowLog(ctx, cmd.OutOrStdout(), path, localcluster.FollowOptions{Tail: tail, Follow: follow, Ended: ended})
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", namespace, "The pod's namespace.")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "Keep printing the log until the pod ends or is deleted (or Ctrl-C).")
	cmd.Flags().IntVar(&tail, "tail", -1, "Print only the last N lines (-1: all).")
	return cmd
}

// podEnded tells whether a pod of the local cluster in dir can write no
// more log: it finished, it is gone, or the cluster is not running.
func podEnded(dir, namespace, pod string) func(context.Context) (bool, error) {
	var client kubernetes.Interface
	return func(ctx context.Context) (bool, error) {
		if running, _ := localcluster.Running(dir); !running {
			return true, nil
		}
		if client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
			if err != nil {
				return false, fmt.Errorf("reading the cluster's kubeconfig: %w", err)
			}
			if client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
		}
		p, err := client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			return false, nil // the cluster may be stopping: asked again
		}
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
	}
}

// submitStopGrace is how long spark-submit gets to stop after SIGINT.
const submitStopGrace = 10 * time.Second

func newLocalSubmitCommand(dir *string) *cobra.Command {
	namespace := "default"
	cmd := &cobra.Command{
		Use:   "spark-submit -- ARGS",
		Short: "Run spark-submit in cluster mode against the local cluster",
		Long: `Run Spark's own spark-submit in cluster mode against the running local
cluster, with the master URL, credentials and image placeholder filled in.
Everything after -- goes to spark-submit unchanged. The application must be a
local:// path on this machine (the process kubelet runs the driver here).

Ctrl-C stops spark-submit (SIGINT, then SIGKILL after 10 s); as on any
Kubernetes cluster, pods it already created keep running: delete the driver
pod to stop the application.`,
		Example: `  sparkplane local spark-submit -- --name wordcount \
    --conf spark.executor.instances=2 local:///home/me/wordcount.py`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("give spark-submit's arguments after --, e.g. -- --name job local:///abs/path/job.py")
			}
			if running, _ := localcluster.Running(*dir); !running {
				return fmt.Errorf("no local cluster runs in --dir %s: start one with 'sparkplane local up --dir %s'", *dir, *dir)
			}
			kubeconfig := filepath.Join(*dir, "kubeconfig")
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("reading %s (is 'sparkplane local up --dir %s' running?): %w", kubeconfig, *dir, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			dist, err := sparkdist.FindWithProgress(ctx, cmd.ErrOrStderr())
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted while finding Spark")
				}
				return err
			}
			c := dist.SubmitCommand(ctx, sparkdist.Cluster{APIServerURL: cfg.Host, Namespace: namespace, Kubeconfig: kubeconfig}, args)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			// Ctrl-C: let spark-submit stop as it does in a terminal, not SIGKILL.
			c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
			c.WaitDelay = submitStopGrace
			err = c.Run()
			if ctx.Err() != nil {
				return errors.New("interrupted; spark-submit stopped (pods it created keep running: delete the driver pod to stop the application)")
			}
			if err != nil {
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
