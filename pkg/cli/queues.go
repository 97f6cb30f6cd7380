package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// newQueuesCommand is `sparkplane queues`: the sparkplane scheduler's
// queues as the API server shows them.
func newQueuesCommand() *cobra.Command {
	var kubeconfig, schedulerConfig, schedulerName, namespace, output string
	cmd := &cobra.Command{
		Use:   "queues",
		Short: "Show the sparkplane scheduler's queues: usage, limits and waiting apps",
		Long: `Show each queue of the sparkplane scheduler: apps running and waiting, what
they hold (drivers, executors and executor slots reserved for gangs) against
the queue's maximum, the drivers' share, and the oldest waiting app.

It is computed from the Spark pods in the API server and the gang
reservations written on their drivers, the way the scheduler computes it;
give the scheduler's --config file to show the queue limits. The scheduler
also exports the same figures as metrics (sparkplane_scheduler_queue_*).`,
		Example: `  sparkplane queues --scheduler-config /etc/sparkplane/scheduler.yaml
  sparkplane queues -n etl -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var args *scheduler.SparkGangArgs
			if schedulerConfig != "" {
				var err error
				if args, err = scheduler.ArgsFromConfigFile(schedulerConfig, schedulerName); err != nil {
					return err
				}
			}
			rest, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("loading --kubeconfig %q (empty means in-cluster): %w", kubeconfig, err)
			}
			client, err := kubernetes.NewForConfig(rest)
			if err != nil {
				return err
			}
			queues, err := queueSummaries(cmd.Context(), client, args, schedulerName, namespace, time.Now())
			if err != nil {
				return err
			}
			switch output {
			case "table":
				return printQueues(cmd.OutOrStdout(), queues)
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(queuesJSON(queues))
			}
			return fmt.Errorf("--output %q: use table or json", output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig; empty means the in-cluster service account.")
	f.StringVar(&schedulerConfig, "scheduler-config", "", "The sparkplane scheduler's KubeSchedulerConfiguration file, for the queue limits (default: no limits).")
	f.StringVar(&schedulerName, "scheduler-name", scheduler.SchedulerName, "The scheduler profile whose apps are counted.")
	f.StringVarP(&namespace, "namespace", "n", "", "Only count pods of this namespace (default: all).")
	f.StringVarP(&output, "output", "o", "table", "Output format: table or json.")
	return cmd
}

// queueSummaries lists the Spark pods (and the conf ConfigMaps of pending
// drivers, to size their gangs) and summarizes the queues.
func queueSummaries(ctx context.Context, client kubernetes.Interface, args *scheduler.SparkGangArgs, schedulerName, namespace string, now time.Time) ([]scheduler.QueueSummary, error) {
	sel := spark.LabelRole + " in (" + string(spark.RoleDriver) + "," + string(spark.RoleExecutor) + ")"
	list, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing Spark pods: %w", err)
	}
	var pods []*corev1.Pod
	var cms []*corev1.ConfigMap
	for i := range list.Items {
		p := &list.Items[i]
		pods = append(pods, p)
		if spark.RoleOf(p) != spark.RoleDriver || p.Spec.NodeName != "" || p.Spec.SchedulerName != schedulerName {
			continue
		}
		if name, ok := gang.PropertiesConfigMap(p); ok {
			cm, err := client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("reading the Spark conf of driver %s/%s: %w", p.Namespace, p.Name, err)
			default:
				cms = append(cms, cm)
			}
		}
	}
	return scheduler.Summarize(args, schedulerName, pods, cms, now)
}

func cpu(m int64) string    { return resource.NewMilliQuantity(m, resource.DecimalSI).String() }
func memory(b int64) string { return resource.NewQuantity(b, resource.BinarySI).String() }

func ofMax(used string, q resource.Quantity) string {
	if q.IsZero() {
		return used + " (no max)"
	}
	return used + " / " + q.String()
}

func printQueues(w io.Writer, queues []scheduler.QueueSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tRUNNING\tWAITING\tCPU\tMEMORY\tDRIVERS (SHARE)\tRESERVED SLOTS\tOLDEST WAITING")
	for _, q := range queues {
		share := "no cap"
		if q.Limits.MaxDriverShare > 0 {
			share = fmt.Sprintf("max %g", q.Limits.MaxDriverShare)
		}
		head := "-"
		if q.Head != "" {
			head = fmt.Sprintf("%s (%s)", q.Head, q.HeadWait.Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s cpu, %s (%s)\t%d\t%s\n", q.Name, q.Running, q.Waiting,
			ofMax(cpu(q.Used.MilliCPU), q.Limits.MaxCPU), ofMax(memory(q.Used.Memory), q.Limits.MaxMemory),
			cpu(q.Drivers.MilliCPU), memory(q.Drivers.Memory), share, q.ReservedSlots, head)
	}
	return tw.Flush()
}

type queueJSON struct {
	Name           string  `json:"name"`
	Running        int     `json:"running"`
	Waiting        int     `json:"waiting"`
	UsedCPU        string  `json:"usedCPU"`
	UsedMemory     string  `json:"usedMemory"`
	DriverCPU      string  `json:"driverCPU"`
	DriverMemory   string  `json:"driverMemory"`
	MaxCPU         string  `json:"maxCPU,omitempty"`
	MaxMemory      string  `json:"maxMemory,omitempty"`
	MaxDriverShare float64 `json:"maxDriverShare,omitempty"`
	ReservedSlots  int     `json:"reservedSlots"`
	OldestWaiting  string  `json:"oldestWaiting,omitempty"`
	WaitingSeconds float64 `json:"waitingSeconds,omitempty"`
}

func queuesJSON(queues []scheduler.QueueSummary) []queueJSON {
	out := make([]queueJSON, 0, len(queues))
	for _, q := range queues {
		j := queueJSON{
			Name: q.Name, Running: q.Running, Waiting: q.Waiting,
			UsedCPU: cpu(q.Used.MilliCPU), UsedMemory: memory(q.Used.Memory),
			DriverCPU: cpu(q.Drivers.MilliCPU), DriverMemory: memory(q.Drivers.Memory),
			MaxDriverShare: q.Limits.MaxDriverShare, ReservedSlots: q.ReservedSlots,
			OldestWaiting: string(q.Head), WaitingSeconds: q.HeadWait.Seconds(),
		}
		if !q.Limits.MaxCPU.IsZero() {
			j.MaxCPU = q.Limits.MaxCPU.String()
		}
		if !q.Limits.MaxMemory.IsZero() {
			j.MaxMemory = q.Limits.MaxMemory.String()
		}
		out = append(out, j)
	}
	return out
}
