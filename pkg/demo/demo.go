// Package demo runs sparkplane's first-run demo: a real control plane
// (etcd, kube-apiserver, kube-scheduler) with virtual nodes in three zones,
// the same Spark apps submitted without and with the sparkplane webhook, and
// a table of where drivers and executors landed.
//
// The Spark pods are simulated (sparksim: shaped as Spark makes them,
// executors created only after the driver is bound); no JVM runs yet.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/audit"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

// Options of a demo run.
type Options struct {
	Apps      int
	Executors int
	// TrafficGBPerExecutor is the assumed driver<->executor plus shuffle
	// traffic of one executor per run, for the cost column.
	TrafficGBPerExecutor float64
	// LogFile receives the components' logs.
	LogFile string
}

// pricePerGB is the cross-zone transfer price, $0.01/GB each way.
const pricePerGB = 0.02

var zones = []string{"zone-a", "zone-b", "zone-c"}

// Run runs the demo and writes progress and the result table to out.
func Run(ctx context.Context, out io.Writer, opts Options) error {
	step := stepper(out)
	logs, err := os.Create(opts.LogFile)
	if err != nil {
		return fmt.Errorf("creating log file: %w", err)
	}
	defer logs.Close()
	dir, err := os.MkdirTemp("", "sparkplane-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("starting etcd, kube-apiserver and kube-scheduler (logs: %s)", opts.LogFile)
	cp, err := controlplane.Start(ctx, controlplane.Options{Scheduler: true, LogWriter: logs})
	if err != nil {
		return err
	}
	defer cp.Stop()

	cfg := v1alpha1.Default()
	for _, z := range zones {
		for i, capType := range []v1alpha1.CapacityType{v1alpha1.CapacityOnDemand, v1alpha1.CapacityOnDemand, v1alpha1.CapacitySpot, v1alpha1.CapacitySpot} {
			spec := controlplane.NodeSpec{Name: fmt.Sprintf("%s-%s-%d", z, capType, i), Zone: z, CPU: "16", Memory: "64Gi", Labels: cfg.Provider.NodeLabels(capType)}
			if _, err := cp.CreateNode(ctx, spec); err != nil {
				return err
			}
		}
	}
	step("created 12 nodes: 3 zones x (2 on-demand + 2 spot), 16 cpu each, Karpenter labels")

	wh, url, ca, err := webhook.NewLocal(webhook.Options{Config: cfg, RestConfig: cp.Config, Log: klog.NewKlogr().WithName("webhook")}, dir)
	if err != nil {
		return err
	}
	whCtx, stopWebhook := context.WithCancel(ctx)
	defer stopWebhook()
	go func() { _ = wh.Run(whCtx) }()

	type result struct {
		name    string
		report  audit.Report
		example string
	}
	var results []result
	for _, withWebhook := range []bool{false, true} {
		name := "default scheduler, no sparkplane"
		if withWebhook {
			if err := cp.RegisterMutatingWebhook(ctx, "sparkplane", url, ca); err != nil {
				return err
			}
			if err := cp.WaitForWebhook(ctx, func(p *corev1.Pod) bool { return p.Annotations[placement.AnnotationDecision] != "" }); err != nil {
				return fmt.Errorf("waiting for the webhook: %w", err)
			}
			name = "default scheduler + sparkplane webhook"
		}
		step("run %d (%s): submitting %d apps with %d executors each", len(results)+1, name, opts.Apps, opts.Executors)
		ns := fmt.Sprintf("run-%d", len(results)+1)
		if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		report, example, err := runApps(ctx, cp, cfg, ns, opts)
		if err != nil {
			return err
		}
		t := report.Totals()
		step("run %d done: %d executors bound, %d outside their driver's zone", len(results)+1, t.Executors, t.CrossZone)
		results = append(results, result{name, report, example})
	}

	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tdrivers per zone\tdrivers on on-demand\texecutors on spot\texecutors outside driver's zone\test. cross-zone cost per run")
	for _, r := range results {
		t := r.report.Totals()
		gb := float64(t.CrossZone) * opts.TrafficGBPerExecutor
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d/%d\t%d/%d (%.0f%%)\t$%.2f (%.0f GB)\n", r.name, driverZones(r.report), t.DriversOnDemand, t.Drivers,
			t.ExecutorsSpot, t.Executors, t.CrossZone, t.Executors, pct(t.CrossZone, t.Executors), gb*pricePerGB, gb)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nCost assumes %.0f GB of driver<->executor and shuffle traffic per executor per run at $0.01/GB each way.\n", opts.TrafficGBPerExecutor)
	fmt.Fprintf(out, "Spark pods are simulated (labels, owner references and batches as Spark creates them; no JVMs).\n")
	fmt.Fprintf(out, "\nWhy an executor went where it went (annotation %s):\n  %s\n", placement.AnnotationDecision, results[len(results)-1].example)
	return nil
}

// stepper returns a progress printer: seconds since now, then the line.
func stepper(out io.Writer) func(format string, args ...any) {
	start := time.Now()
	return func(format string, args ...any) {
		fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}

func runApps(ctx context.Context, cp *controlplane.ControlPlane, cfg *v1alpha1.SparkplaneConfiguration, ns string, opts Options) (audit.Report, string, error) {
	var drivers []*sparksim.Driver
	defer func() {
		for _, d := range drivers {
			_ = d.Delete(context.WithoutCancel(ctx))
		}
	}()
	for i := 0; i < opts.Apps; i++ {
		d, err := sparksim.Start(ctx, cp.Client, sparksim.App{Namespace: ns, Name: fmt.Sprintf("etl-%02d", i), Executors: opts.Executors,
			BatchDelay: 200 * time.Millisecond, DriverCPU: "1", ExecutorCPU: "2", ExecutorMemory: "4Gi"})
		if err != nil {
			return audit.Report{}, "", err
		}
		drivers = append(drivers, d)
	}
	want := opts.Apps * opts.Executors
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, err := cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "spark-role"})
		if err != nil {
			return audit.Report{}, "", err
		}
		nodes, err := cp.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return audit.Report{}, "", err
		}
		report := audit.Summarize(pods.Items, nodes.Items, cfg.Provider, cfg.ZoneLabel)
		if t := report.Totals(); t.Executors == want || time.Now().After(deadline) {
			example := ""
			for _, p := range pods.Items {
				if e := p.Annotations[placement.AnnotationDecision]; e != "" && p.Labels["spark-role"] == "executor" {
					example = e
					break
				}
			}
			return report, example, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func driverZones(r audit.Report) string {
	count := map[string]int{}
	for _, a := range r.Apps {
		if a.Driver != nil {
			count[a.Driver.Zone]++
		}
	}
	keys := make([]string, 0, len(count))
	for z := range count {
		keys = append(keys, z)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, z := range keys {
		parts[i] = fmt.Sprintf("%s:%d", strings.TrimPrefix(z, "zone-"), count[z])
	}
	return strings.Join(parts, " ")
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
