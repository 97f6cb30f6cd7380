package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/audit"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

type auditOptions struct {
	kube            *kubeFlags
	allNamespaces   bool
	output          string
	configFile      string
	provider        string
	zoneLabel       string
	cost            audit.CostModel
	eventLogs       []string
	runsPerMonth    float64
	failOnCrossZone bool
}

// newAuditCommand is `sparkplane audit`: where Spark apps run and what the
// cross-zone part costs, against any cluster.
func newAuditCommand() *cobra.Command {
	o := &auditOptions{kube: newKubeFlags(), cost: audit.DefaultCostModel()}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show where Spark apps run: zones, capacity types, cross-zone executors, pending executors and the cross-zone cost",
		Long: `Audit the placement of the Spark apps of a cluster (any cluster, with or without
sparkplane installed). Per app: the driver's zone and capacity type, executors
per zone and capacity type, each cross-zone driver<->executor pair, and each
pending executor with why it waits (the scheduler's PodScheduled=False reason
and message, and sparkplane's decision annotation). Then a summary: the share
of executors outside their driver's zone and an estimated monthly cost of the
traffic they cause.

Zones and capacity types come from node labels: the zone label and the
capacity-type label of the provider in --config (or --provider, --zone-label).

Cost. Moving a GiB between two zones costs --price-per-gib (default $0.02:
AWS bills inter-AZ traffic $0.01/GB out of one zone plus $0.01/GB into the
other; use 0.01 for GCP, 0 for Azure). Without event logs the estimate is
  cross-zone executors now × --gib-per-executor-hour × 730 h × price,
taking the current count as the month's average. The default 10 GiB per
executor-hour is about 2.8 MiB/s averaged over an executor's life: shuffle
with its peers in the driver's zone, broadcasts and results of a moderately
shuffle-heavy batch job. With --event-log (Spark event logs, uncompressed;
a rolling-log directory works too) the estimate is measured instead: the
shuffle bytes fetched across zones (by where each executor ran, from its pod
in the cluster: the app's executor pods must still exist, i.e. the app runs
or spark.kubernetes.executor.deleteOnTermination=false), extrapolated to a
month as if each app ran back to back (730 h ÷ observed duration), or
× --runs-per-month.

Kubernetes access follows kubectl: --kubeconfig, KUBECONFIG, ~/.kube/config
or the in-cluster service account; --context; -n or the context's namespace;
-A for all namespaces. It needs RBAC "list" on pods (in the namespace, or
cluster-wide with -A) and "list" on nodes; nothing else, no secrets.

Apps whose pods have all finished (driver Succeeded or Failed) are listed
apart, as finished, and not counted in the placement figures. An app with
executors but no live driver pod says what became of the driver: finished,
being deleted, deleted (the executors' ownerReference names a pod that is
gone), or none at all (client mode: executors without a driver
ownerReference).

-o json prints {namespace, allNamespaces, apps[], finishedApps[], summary,
cost}. Per app: namespace, appID, name, driver {pod, node, zone, capacityType,
pending} (null without a live driver pod, then driverGone {reason: finished,
deleting, not-found or client-mode, pod, phase, message}),
executors {bound, sameZone, crossZone, unknownZone, pending},
placements[] {zone, capacityType, executors}, crossZonePairs[] {driver,
driverZone, executor, executorNode, executorZone, executorCapacityType},
pendingExecutors[] {pod, reason, message, since, decision, zoneMode, zone}.
finishedApps[]: {namespace, appID, name, driverPod, phase, executorPods}.
summary: the totals, finishedApps and crossZoneShare (0-1, of bound executors
whose zones are known). cost: pricePerGiB, gibPerExecutorHour, hoursPerMonth, assumed and
(with --event-log) measured {monthlyGiB, monthlyUSD, assumption}.

Exit status: 0; 1 on an error, or with --fail-on-cross-zone when any executor
runs outside its driver's zone (after printing the report).`,
		Example: `  sparkplane audit -A
  sparkplane audit -n etl -o json --provider eks
  sparkplane audit --context prod -A --fail-on-cross-zone
  sparkplane audit -n etl --event-log /tmp/spark-events/spark-1234 --runs-per-month 30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	o.kube.bind(f)
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "Audit the Spark apps of every namespace.")
	f.StringVarP(&o.output, "output", "o", "table", "Output format: table or json.")
	f.StringVar(&o.configFile, "config", "", "SparkplaneConfiguration file for the zone label and the capacity-type provider (default: the defaults, provider karpenter).")
	f.StringVar(&o.provider, "provider", "", "Capacity-type label preset, overriding --config: karpenter, eks, gke or aks (a custom label needs --config).")
	f.StringVar(&o.zoneLabel, "zone-label", "", "Node label that names the zone, overriding --config (default "+v1alpha1.DefaultZoneLabel+").")
	f.Float64Var(&o.cost.PricePerGiB, "price-per-gib", o.cost.PricePerGiB, "USD per GiB crossing zones: 0.02 on AWS ($0.01 each direction), 0.01 on GCP, 0 on Azure.")
	f.Float64Var(&o.cost.GiBPerExecutorHour, "gib-per-executor-hour", o.cost.GiBPerExecutorHour, "Assumed cross-zone traffic of one executor outside its driver's zone, in GiB per hour (10 = 2.8 MiB/s average).")
	f.StringArrayVar(&o.eventLogs, "event-log", nil, "Spark event log file or rolling-log directory to measure cross-zone shuffle bytes from; repeatable.")
	f.Float64Var(&o.runsPerMonth, "runs-per-month", 0, "With --event-log: how often each logged run repeats a month (0: as if it ran back to back for 730 h).")
	f.BoolVar(&o.failOnCrossZone, "fail-on-cross-zone", false, "Exit with status 1 when any executor runs outside its driver's zone (for CI and alerts).")
	return cmd
}

func (o *auditOptions) run(ctx context.Context, out, errOut io.Writer) error {
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("--output %q: use table or json", o.output)
	}
	if err := o.cost.Validate(); err != nil {
		return fmt.Errorf("--price-per-gib / --gib-per-executor-hour: %w", err)
	}
	if o.runsPerMonth < 0 {
		return fmt.Errorf("--runs-per-month %g is negative: use 0 (back to back all month) or more", o.runsPerMonth)
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	for _, p := range o.eventLogs {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("--event-log: %w", err)
		}
	}

	kc, rc, err := o.kube.clientConfig("sparkplane-audit")
	if err != nil {
		return err
	}
	namespace := ""
	if !o.allNamespaces {
		if namespace, _, err = kc.Namespace(); err != nil {
			return fmt.Errorf("reading the namespace from the kubeconfig (or set -n): %w", err)
		}
	}
	pods, nodes, err := listSparkPodsAndNodes(ctx, rc, namespace)
	if err != nil {
		return err
	}
	lookup := func(name string) (audit.Placement, bool) {
		labels, ok := nodes[name]
		if !ok {
			return audit.Placement{}, false
		}
		return audit.PlacementOf(labels, cfg.Provider, cfg.ZoneLabel), true
	}
	report := audit.SummarizePods(pods, lookup)
	res := auditResult{Namespace: namespace, AllNamespaces: o.allNamespaces, Report: report, Totals: report.Totals(), Cost: o.cost}
	res.Assumed = o.cost.Assumed(res.Totals.CrossZone)
	if len(o.eventLogs) > 0 {
		var logs []audit.Shuffle
		for _, path := range o.eventLogs {
			l, err := readEventLog(path)
			if err != nil {
				return fmt.Errorf("--event-log %s: %w", path, err)
			}
			zones := audit.ExecutorZones(pods, l.AppID, lookup)
			if len(zones) == 0 {
				fmt.Fprintf(errOut, "warning: --event-log %s: no executor pods of app %s found (in scope %s); its bytes cannot be placed in zones "+
					"(Spark deletes executor pods when an app ends unless spark.kubernetes.executor.deleteOnTermination=false)\n", path, l.AppID, scope(res))
			}
			logs = append(logs, l.Shuffle(zones))
		}
		m, err := o.cost.Measured(logs, o.runsPerMonth)
		if err != nil {
			return fmt.Errorf("--event-log: %w", err)
		}
		res.Measured = &m
	}

	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res.json()); err != nil {
			return err
		}
	} else if err := res.printTable(out, time.Now()); err != nil {
		return err
	}
	if o.failOnCrossZone && res.Totals.CrossZone > 0 {
		return fmt.Errorf("%d executor(s) in %d app(s) run outside their driver's zone (--fail-on-cross-zone)", res.Totals.CrossZone, res.Totals.AppsCrossZone)
	}
	return nil
}

// config loads --config and applies --provider and --zone-label.
func (o *auditOptions) config() (*v1alpha1.SparkplaneConfiguration, error) {
	cfg, err := v1alpha1.Load(o.configFile)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	if o.provider != "" {
		p, ok := v1alpha1.Preset(o.provider)
		if !ok || o.provider == v1alpha1.ProviderCustom {
			return nil, fmt.Errorf("--provider %q: use karpenter, eks, gke or aks (for a custom label, set provider in a --config file)", o.provider)
		}
		cfg.Provider = p
	}
	if o.zoneLabel != "" {
		cfg.ZoneLabel = o.zoneLabel
	}
	if errs := v1alpha1.Validate(cfg); len(errs) > 0 {
		return nil, fmt.Errorf("--zone-label / --provider: %w", errs.ToAggregate())
	}
	return cfg, nil
}

// listSparkPodsAndNodes lists the Spark pods of the namespace ("" for all)
// and the labels of every node (metadata only: node status can be large),
// in pages.
func listSparkPodsAndNodes(ctx context.Context, rc *rest.Config, namespace string) ([]*corev1.Pod, map[string]map[string]string, error) {
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a client for %s: %w", rc.Host, err)
	}
	meta, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a client for %s: %w", rc.Host, err)
	}
	var pods []*corev1.Pod
	sel := spark.LabelRole + " in (" + string(spark.RoleDriver) + "," + string(spark.RoleExecutor) + ")"
	err = pager.New(pager.SimplePageFunc(func(opts metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Pods(namespace).List(ctx, opts)
	})).EachListItemWithAlloc(ctx, metav1.ListOptions{LabelSelector: sel}, func(obj runtime.Object) error {
		pods = append(pods, obj.(*corev1.Pod))
		return nil
	})
	if err != nil {
		return nil, nil, explainListError(err, "audit", "pods", namespace, rc.Host)
	}
	nodes := map[string]map[string]string{}
	err = pager.New(pager.SimplePageFunc(func(opts metav1.ListOptions) (runtime.Object, error) {
		return meta.Resource(corev1.SchemeGroupVersion.WithResource("nodes")).List(ctx, opts)
	})).EachListItemWithAlloc(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		n := obj.(*metav1.PartialObjectMetadata)
		nodes[n.Name] = n.Labels
		return nil
	})
	if err != nil {
		return nil, nil, explainListError(err, "audit", "nodes", "", rc.Host)
	}
	return pods, nodes, nil
}

// explainListError says what went wrong listing resource and how to fix it:
// the RBAC permission for Forbidden, the credentials for Unauthorized, the
// connection for anything that is not an API status.
func explainListError(err error, command, resource, namespace, host string) error {
	where, canI := "cluster-wide", "kubectl auth can-i list "+resource
	switch {
	case resource == "nodes":
		where = "(nodes are cluster-scoped)"
	case namespace != "":
		where, canI = "in namespace "+namespace, canI+" -n "+namespace
	default:
		canI += " -A"
	}
	var status apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("listing %s %s is forbidden: sparkplane %s needs RBAC verb \"list\" on %s %s (check with `%s`): %w",
			resource, where, command, resource, where, canI, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server at %s rejected the credentials: check --kubeconfig/--context or log in again: %w", host, err)
	case !errors.As(err, &status):
		return fmt.Errorf("cannot reach the API server at %s (check --kubeconfig, --context and that the cluster is up): %w", host, err)
	}
	return fmt.Errorf("listing %s %s: %w", resource, where, err)
}

// readEventLog reads a Spark event log file, or the events_* files of a
// rolling event log directory in order.
func readEventLog(path string) (audit.EventLog, error) {
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return audit.EventLog{}, err
	} else if st.IsDir() {
		if files, err = rollingLogParts(path); err != nil {
			return audit.EventLog{}, err
		}
	}
	var readers []io.Reader
	for _, p := range files {
		switch filepath.Ext(p) {
		case ".lz4", ".lzf", ".snappy", ".zstd":
			return audit.EventLog{}, fmt.Errorf("%s is compressed (%s): decompress it first, or log with spark.eventLog.compress=false", p, filepath.Ext(p))
		}
		f, err := os.Open(p)
		if err != nil {
			return audit.EventLog{}, err
		}
		defer f.Close()
		readers = append(readers, f, strings.NewReader("\n"))
	}
	l, err := audit.ReadEventLog(io.MultiReader(readers...))
	if err == nil && l.AppID == "" {
		err = errors.New("no SparkListenerApplicationStart event with an App ID: is it a Spark event log?")
	}
	return l, err
}

// rollingLogParts lists the events_<n>_<app> files of a rolling event log
// directory (spark.eventLog.rolling.enabled) by n.
func rollingLogParts(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type part struct {
		n    int
		path string
	}
	var parts []part
	for _, e := range entries {
		fields := strings.SplitN(e.Name(), "_", 3)
		if e.IsDir() || len(fields) < 3 || fields[0] != "events" {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		parts = append(parts, part{n, filepath.Join(dir, e.Name())})
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("directory %s has no events_<n>_<app> files of a rolling event log", dir)
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.n, b.n) })
	files := make([]string, len(parts))
	for i, p := range parts {
		files[i] = p.path
	}
	return files, nil
}

// auditResult is the report, its totals and the cost estimates.
type auditResult struct {
	Namespace     string
	AllNamespaces bool
	Report        audit.Report
	Totals        audit.Totals
	Cost          audit.CostModel
	Assumed       audit.Estimate
	Measured      *audit.Estimate
}

func scope(r auditResult) string {
	if r.AllNamespaces {
		return "all namespaces"
	}
	return "namespace " + r.Namespace
}

// placements are an app's executors per zone and capacity type, sorted.
func placements(a audit.App) []placementJSON {
	out := make([]placementJSON, 0, len(a.Executors))
	for p, n := range a.Executors {
		out = append(out, placementJSON{Zone: p.Zone, CapacityType: string(p.Capacity), Executors: n})
	}
	slices.SortFunc(out, func(x, y placementJSON) int {
		return cmp.Or(cmp.Compare(x.Zone, y.Zone), cmp.Compare(x.CapacityType, y.CapacityType))
	})
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r auditResult) printTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tAPP\tAPP ID\tDRIVER (ZONE/CAPACITY)\tEXECUTORS (ZONE/CAPACITY:N)\tCROSS-ZONE\tPENDING")
	for _, a := range r.Report.Apps {
		drv := "-"
		switch {
		case a.DriverGone != nil:
			drv = a.DriverGone.String()
		case a.Driver != nil:
			drv = orDash(a.Driver.Zone) + "/" + orDash(string(a.Driver.Capacity))
		case a.DriverWaiting != nil:
			drv = "pending: " + a.DriverWaiting.Reason
		}
		var execs []string
		for _, p := range placements(a) {
			execs = append(execs, fmt.Sprintf("%s/%s:%d", orDash(p.Zone), orDash(p.CapacityType), p.Executors))
		}
		cross := "-"
		if a.SameZone+a.CrossZone > 0 {
			cross = fmt.Sprintf("%d of %d", a.CrossZone, a.SameZone+a.CrossZone)
		}
		if a.UnknownZone > 0 {
			cross += fmt.Sprintf(" (%d zone unknown)", a.UnknownZone)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.Namespace, orDash(a.Name), orDash(a.AppID), drv, orDash(strings.Join(execs, " ")), cross, len(a.Pending))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Report.Apps) == 0 {
		if n := len(r.Report.Finished); n > 0 {
			fmt.Fprintf(w, "No running Spark apps in %s; %d finished app(s) (driver Succeeded/Failed) below.\n", scope(r), n)
		} else {
			fmt.Fprintf(w, "No Spark pods (label %s=driver|executor) in %s.\n", spark.LabelRole, scope(r))
		}
	}
	if len(r.Report.Finished) > 0 {
		fmt.Fprintf(w, "\nFinished apps (no live pods; not counted below):\n")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAMESPACE\tAPP\tAPP ID\tDRIVER\tPHASE\tEXECUTOR PODS KEPT")
		for _, f := range r.Report.Finished {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\n", f.Namespace, orDash(f.Name), orDash(f.AppID), f.DriverPod, f.Phase, f.Executors)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	var pairs, pending []string
	for _, a := range r.Report.Apps {
		for _, p := range a.CrossZonePairs {
			pairs = append(pairs, fmt.Sprintf("  %s/%s on %s (%s, %s) <-> driver %s (%s)", a.Namespace, p.Executor, p.ExecutorNode,
				p.ExecutorZone, orDash(string(p.ExecutorCapacity)), p.Driver, p.DriverZone))
		}
		if d := a.DriverWaiting; d != nil {
			pending = append(pending, waitingLines(a.Namespace+"/"+a.DriverPod+" (driver)", *d, now)...)
		}
		for _, p := range a.Pending {
			pending = append(pending, waitingLines(a.Namespace+"/"+p.Pod, p.Waiting, now)...)
		}
	}
	if len(pairs) > 0 {
		fmt.Fprintf(w, "\nCross-zone driver<->executor pairs (%d):\n%s\n", len(pairs), strings.Join(pairs, "\n"))
	}
	if len(pending) > 0 {
		fmt.Fprintf(w, "\nPending pods and why:\n%s\n", strings.Join(pending, "\n"))
	}

	t := r.Totals
	fmt.Fprintf(w, "\nSummary (%s):\n", scope(r))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  apps\t%d running (drivers: %d bound, %d on on-demand, %d pending); %d finished\n", t.Apps, t.Drivers, t.DriversOnDemand, t.DriversPending, t.FinishedApps)
	fmt.Fprintf(tw, "  executors\t%d bound (%d on spot), %d pending\n", t.Executors, t.ExecutorsSpot, t.Pending)
	unknown := ""
	if t.UnknownZone > 0 {
		unknown = fmt.Sprintf("; %d more with no known zone to compare (no bound driver pod, or a node without zone label)", t.UnknownZone)
	}
	fmt.Fprintf(tw, "  outside their driver's zone\t%d of %d (%.1f%%) in %d app(s)%s\n",
		t.CrossZone, t.SameZone+t.CrossZone, 100*t.CrossZoneShare(), t.AppsCrossZone, unknown)
	fmt.Fprintf(tw, "  cross-zone cost (assumed)\t$%.2f/month (%.0f GiB): %s\n", r.Assumed.MonthlyUSD, r.Assumed.MonthlyGiB, r.Assumed.Assumption)
	if m := r.Measured; m != nil {
		fmt.Fprintf(tw, "  cross-zone cost (measured)\t$%.2f/month (%.1f GiB): %s\n", m.MonthlyUSD, m.MonthlyGiB, m.Assumption)
	}
	return tw.Flush()
}

func waitingLines(who string, wt audit.Waiting, now time.Time) []string {
	lines := []string{fmt.Sprintf("  %s: %s for %s: %s", who, wt.Reason, duration.HumanDuration(now.Sub(wt.Since)), wt.Message)}
	if wt.Decision != "" {
		lines = append(lines, "      sparkplane: "+wt.Decision)
	}
	return lines
}

// The JSON output; field names are documented in the command's help and
// stay stable.
type auditJSON struct {
	Namespace     string    `json:"namespace,omitempty"`
	AllNamespaces bool      `json:"allNamespaces"`
	Apps          []appJSON `json:"apps"`
	// FinishedApps have no live pod and a finished driver.
	FinishedApps []finishedJSON `json:"finishedApps"`
	Summary      summaryJSON    `json:"summary"`
	Cost         costJSON       `json:"cost"`
}

type appJSON struct {
	Namespace        string          `json:"namespace"`
	AppID            string          `json:"appID"`
	Name             string          `json:"name"`
	Driver           *driverJSON     `json:"driver"`
	DriverGone       *driverGoneJSON `json:"driverGone,omitempty"`
	Executors        executorsJSON   `json:"executors"`
	Placements       []placementJSON `json:"placements"`
	CrossZonePairs   []pairJSON      `json:"crossZonePairs"`
	PendingExecutors []pendingJSON   `json:"pendingExecutors"`
}

type driverJSON struct {
	Pod          string       `json:"pod"`
	Node         string       `json:"node,omitempty"`
	Zone         string       `json:"zone,omitempty"`
	CapacityType string       `json:"capacityType,omitempty"`
	Pending      *waitingJSON `json:"pending,omitempty"`
}

type driverGoneJSON struct {
	Reason  string `json:"reason"`
	Pod     string `json:"pod,omitempty"`
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message"`
}

type finishedJSON struct {
	Namespace string `json:"namespace"`
	AppID     string `json:"appID"`
	Name      string `json:"name"`
	DriverPod string `json:"driverPod"`
	Phase     string `json:"phase"`
	Executors int    `json:"executorPods"`
}

type executorsJSON struct {
	Bound       int `json:"bound"`
	SameZone    int `json:"sameZone"`
	CrossZone   int `json:"crossZone"`
	UnknownZone int `json:"unknownZone"`
	Pending     int `json:"pending"`
}

type placementJSON struct {
	Zone         string `json:"zone"`
	CapacityType string `json:"capacityType"`
	Executors    int    `json:"executors"`
}

type pairJSON struct {
	Driver               string `json:"driver"`
	DriverZone           string `json:"driverZone"`
	Executor             string `json:"executor"`
	ExecutorNode         string `json:"executorNode"`
	ExecutorZone         string `json:"executorZone"`
	ExecutorCapacityType string `json:"executorCapacityType"`
}

type waitingJSON struct {
	Reason   string    `json:"reason"`
	Message  string    `json:"message"`
	Since    time.Time `json:"since"`
	Decision string    `json:"decision,omitempty"`
	ZoneMode string    `json:"zoneMode,omitempty"`
	Zone     string    `json:"zone,omitempty"`
}

type pendingJSON struct {
	Pod string `json:"pod"`
	waitingJSON
}

type summaryJSON struct {
	Apps              int     `json:"apps"`
	Drivers           int     `json:"drivers"`
	DriversOnDemand   int     `json:"driversOnDemand"`
	DriversPending    int     `json:"driversPending"`
	Executors         int     `json:"executors"`
	ExecutorsSpot     int     `json:"executorsSpot"`
	SameZone          int     `json:"sameZone"`
	CrossZone         int     `json:"crossZone"`
	UnknownZone       int     `json:"unknownZone"`
	Pending           int     `json:"pending"`
	AppsWithCrossZone int     `json:"appsWithCrossZone"`
	CrossZoneShare    float64 `json:"crossZoneShare"`
	FinishedApps      int     `json:"finishedApps"`
}

type costJSON struct {
	PricePerGiB        float64       `json:"pricePerGiB"`
	GiBPerExecutorHour float64       `json:"gibPerExecutorHour"`
	HoursPerMonth      int           `json:"hoursPerMonth"`
	Assumed            estimateJSON  `json:"assumed"`
	Measured           *estimateJSON `json:"measured,omitempty"`
}

type estimateJSON struct {
	MonthlyGiB float64 `json:"monthlyGiB"`
	MonthlyUSD float64 `json:"monthlyUSD"`
	Assumption string  `json:"assumption"`
}

func toWaitingJSON(w audit.Waiting) waitingJSON {
	return waitingJSON{Reason: w.Reason, Message: w.Message, Since: w.Since.UTC(), Decision: w.Decision, ZoneMode: w.ZoneMode, Zone: w.Zone}
}

func toEstimateJSON(e audit.Estimate) estimateJSON {
	return estimateJSON{MonthlyGiB: e.MonthlyGiB, MonthlyUSD: e.MonthlyUSD, Assumption: e.Assumption}
}

func (r auditResult) json() auditJSON {
	t := r.Totals
	out := auditJSON{
		Namespace: r.Namespace, AllNamespaces: r.AllNamespaces, Apps: make([]appJSON, 0, len(r.Report.Apps)),
		Summary: summaryJSON{
			Apps: t.Apps, Drivers: t.Drivers, DriversOnDemand: t.DriversOnDemand, DriversPending: t.DriversPending,
			Executors: t.Executors, ExecutorsSpot: t.ExecutorsSpot, SameZone: t.SameZone, CrossZone: t.CrossZone,
			UnknownZone: t.UnknownZone, Pending: t.Pending, AppsWithCrossZone: t.AppsCrossZone, CrossZoneShare: t.CrossZoneShare(),
			FinishedApps: t.FinishedApps,
		},
		FinishedApps: make([]finishedJSON, 0, len(r.Report.Finished)),
		Cost: costJSON{PricePerGiB: r.Cost.PricePerGiB, GiBPerExecutorHour: r.Cost.GiBPerExecutorHour, HoursPerMonth: audit.HoursPerMonth,
			Assumed: toEstimateJSON(r.Assumed)},
	}
	if r.Measured != nil {
		m := toEstimateJSON(*r.Measured)
		out.Cost.Measured = &m
	}
	for _, a := range r.Report.Apps {
		j := appJSON{
			Namespace: a.Namespace, AppID: a.AppID, Name: a.Name,
			Executors:      executorsJSON{Bound: a.BoundExecutors(), SameZone: a.SameZone, CrossZone: a.CrossZone, UnknownZone: a.UnknownZone, Pending: len(a.Pending)},
			Placements:     placements(a),
			CrossZonePairs: make([]pairJSON, 0, len(a.CrossZonePairs)), PendingExecutors: make([]pendingJSON, 0, len(a.Pending)),
		}
		if a.DriverPod != "" {
			j.Driver = &driverJSON{Pod: a.DriverPod, Node: a.DriverNode}
			if a.Driver != nil {
				j.Driver.Zone, j.Driver.CapacityType = a.Driver.Zone, string(a.Driver.Capacity)
			}
			if a.DriverWaiting != nil {
				w := toWaitingJSON(*a.DriverWaiting)
				j.Driver.Pending = &w
			}
		}
		if g := a.DriverGone; g != nil {
			j.DriverGone = &driverGoneJSON{Reason: string(g.Reason), Pod: g.Pod, Phase: string(g.Phase), Message: g.String()}
		}
		for _, p := range a.CrossZonePairs {
			j.CrossZonePairs = append(j.CrossZonePairs, pairJSON{Driver: p.Driver, DriverZone: p.DriverZone, Executor: p.Executor,
				ExecutorNode: p.ExecutorNode, ExecutorZone: p.ExecutorZone, ExecutorCapacityType: string(p.ExecutorCapacity)})
		}
		for _, p := range a.Pending {
			j.PendingExecutors = append(j.PendingExecutors, pendingJSON{Pod: p.Pod, waitingJSON: toWaitingJSON(p.Waiting)})
		}
		out.Apps = append(out.Apps, j)
	}
	for _, f := range r.Report.Finished {
		out.FinishedApps = append(out.FinishedApps, finishedJSON{Namespace: f.Namespace, AppID: f.AppID, Name: f.Name,
			DriverPod: f.DriverPod, Phase: string(f.Phase), Executors: f.Executors})
	}
	return out
}
