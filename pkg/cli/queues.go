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

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// newQueuesCommand is `sparkplane queues`: the sparkplane scheduler's
// queues as the API server shows them.
func newQueuesCommand() *cobra.Command {
	var schedulerConfig, schedulerName, output string
	kube := newKubeFlags()
	cmd := &cobra.Command{
		Use:   "queues",
		Short: "Show the sparkplane scheduler's queues: usage, limits and waiting apps",
		Long: `Show each queue of the sparkplane scheduler: apps running and waiting, what
they hold (drivers, executors and executor slots reserved for gangs) against
the queue's maximum, the drivers' share, and the oldest waiting app.

It is computed from the Spark pods in the API server and the gang
reservations written on their drivers, the way the scheduler computes it;
give the scheduler's --config file to show the queue limits. The scheduler
also exports the same figures as metrics (sparkplane_scheduler_queue_*).

Queues span namespaces, so all namespaces are counted unless -n is given
(the context's namespace is not used). Kubernetes access follows kubectl:
--kubeconfig, KUBECONFIG, ~/.kube/config or the in-cluster service account;
--context. It needs RBAC "list" on pods and "get" on the ConfigMaps of
pending drivers.

With no rows, it says why: no Spark pods at all, or no driver whose
spec.schedulerName is the --scheduler-name profile (then the sparkplane
scheduler is not in use), or only finished ones.`,
		Example: `  sparkplane queues --scheduler-config /etc/sparkplane/scheduler.yaml
  sparkplane queues -n etl -o json
  KUBECONFIG=.cache/local/kubeconfig sparkplane queues`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var args *scheduler.SparkGangArgs
			if schedulerConfig != "" {
				var err error
				if args, err = scheduler.ArgsFromConfigFile(schedulerConfig, schedulerName); err != nil {
					return err
				}
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: use table or json", output)
			}
			_, rc, err := kube.clientConfig("sparkplane-queues")
			if err != nil {
				return err
			}
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return fmt.Errorf("creating a client for %s: %w", rc.Host, err)
			}
			namespace := kube.overrides.Context.Namespace
			sc, err := queueSummaries(cmd.Context(), client, rc.Host, args, schedulerName, namespace, time.Now())
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(queuesJSON(sc.queues)); err != nil {
					return err
				}
			} else if err := printQueues(cmd.OutOrStdout(), sc.queues); err != nil {
				return err
			}
			if len(sc.queues) == 0 {
				// On stderr with -o json, so scripts still read a clean [].
				w := cmd.OutOrStdout()
				if output == "json" {
					w = cmd.ErrOrStderr()
				}
				fmt.Fprintln(w, sc.emptyReason(schedulerName, namespace))
			}
			return nil
		},
	}
	f := cmd.Flags()
	kube.bind(f)
	f.StringVar(&schedulerConfig, "scheduler-config", "", "The sparkplane scheduler's KubeSchedulerConfiguration file, for the queue limits (default: no limits).")
	f.StringVar(&schedulerName, "scheduler-name", scheduler.SchedulerName, "The scheduler profile whose apps are counted.")
	// BindOverrideFlags' -n reads "the namespace scope": say what it is here.
	f.Lookup("namespace").Usage = "Only count pods of this namespace (default: all namespaces)."
	f.StringVarP(&output, "output", "o", "table", "Output format: table or json.")
	return cmd
}

// queueScan is the queues and what was seen computing them.
type queueScan struct {
	queues []scheduler.QueueSummary
	// sparkPods counts the Spark pods listed, profileDrivers the drivers
	// among them naming the scheduler profile (only their apps count).
	sparkPods, profileDrivers int
}

// emptyReason says why there are no queues to show.
func (s queueScan) emptyReason(schedulerName, namespace string) string {
	scope := "in all namespaces"
	if namespace != "" {
		scope = "in namespace " + namespace
	}
	hint := "is the sparkplane scheduler in use (sparkplane local up --scheduler sparkplane, or the Helm chart's scheduler.enabled=true)? " +
		"Spark pods name it with spec.schedulerName (spark.kubernetes.scheduler.name, or the webhook sets it)."
	switch {
	case s.sparkPods == 0:
		return fmt.Sprintf("No queues: no Spark pods (label %s=driver|executor) %s.", spark.LabelRole, scope)
	case s.profileDrivers == 0:
		return fmt.Sprintf("No queues: %d Spark pod(s) %s, no driver scheduled by scheduler profile %q; %s", s.sparkPods, scope, schedulerName, hint)
	}
	return fmt.Sprintf("No queues: %d driver(s) %s name scheduler profile %q, but none is live (finished or being deleted).", s.profileDrivers, scope, schedulerName)
}

// queueSummaries lists the Spark pods (and the conf ConfigMaps of pending
// drivers, to size their gangs) and summarizes the queues.
func queueSummaries(ctx context.Context, client kubernetes.Interface, host string, args *scheduler.SparkGangArgs, schedulerName, namespace string, now time.Time) (queueScan, error) {
	sel := spark.LabelRole + " in (" + string(spark.RoleDriver) + "," + string(spark.RoleExecutor) + ")"
	list, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return queueScan{}, explainListError(err, "queues", "pods", namespace, host)
	}
	var s queueScan
	var pods []*corev1.Pod
	var cms []*corev1.ConfigMap
	for i := range list.Items {
		p := &list.Items[i]
		pods = append(pods, p)
		s.sparkPods++
		if spark.RoleOf(p) == spark.RoleDriver && p.Spec.SchedulerName == schedulerName {
			s.profileDrivers++
		}
		if spark.RoleOf(p) != spark.RoleDriver || p.Spec.NodeName != "" || p.Spec.SchedulerName != schedulerName {
			continue
		}
		if name, ok := gang.PropertiesConfigMap(p); ok {
			cm, err := client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return queueScan{}, fmt.Errorf("reading the Spark conf of driver %s/%s: %w", p.Namespace, p.Name, err)
			default:
				cms = append(cms, cm)
			}
		}
	}
	s.queues, err = scheduler.Summarize(args, schedulerName, pods, cms, now)
	return s, err
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
