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

	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/audit"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// SparkOptions configure the real-Spark demo.
type SparkOptions struct {
	// Dir is the local cluster's state directory.
	Dir     string
	LogFile string
}

// JobArgs are the spark-submit arguments of the demo job: a PySpark job
// with a full shuffle, in two busy phases with an idle pause between, under
// dynamic allocation (min 1, max 4, short idle timeout), small heaps.
func JobArgs(name, app string) []string {
	confs := []string{
		"spark.executor.memory=512m", "spark.driver.memory=512m", "spark.executor.cores=1",
		"spark.ui.enabled=false",
		"spark.dynamicAllocation.enabled=true",
		"spark.dynamicAllocation.shuffleTracking.enabled=true",
		"spark.dynamicAllocation.shuffleTracking.timeout=10s",
		"spark.dynamicAllocation.minExecutors=1",
		"spark.dynamicAllocation.initialExecutors=1",
		"spark.dynamicAllocation.maxExecutors=4",
		"spark.dynamicAllocation.executorIdleTimeout=5s",
		"spark.dynamicAllocation.schedulerBacklogTimeout=1s",
		"spark.kubernetes.allocation.batch.delay=500ms",
	}
	args := []string{"--name", name}
	for _, c := range confs {
		args = append(args, "--conf", c)
	}
	// 2 phases of 12 tasks of 2 s, 15 s idle between, 400k records shuffled.
	return append(args, app, "2", "12", "2", "15", "400000")
}

type sparkResult struct {
	name   string
	run    *localcluster.Run
	result string
	drv    localcluster.Node
	cross  int
	perZC  string
	shuf   audit.Shuffle
}

// RunSpark runs the demo on a local cluster with real Spark JVMs.
func RunSpark(ctx context.Context, out io.Writer, opts SparkOptions) error {
	step, logs, err := begin(out, opts.LogFile)
	if err != nil {
		return err
	}
	defer logs.Close()

	lo := localcluster.Defaults(opts.Dir)
	// Each demo run starts afresh in its own directory (the earlier run's
	// files go, foreign directories are still refused).
	lo.Recreate = true
	lo.Webhook, lo.LogWriter, lo.Log = false, logs, klog.NewKlogr()
	step("starting the local cluster: etcd, kube-apiserver, kube-scheduler, webhook, 9 nodes in 3 zones (logs: %s)", opts.LogFile)
	c, err := localcluster.Start(ctx, lo)
	if err != nil {
		return err
	}
	defer c.Stop()
	step("ready: Spark %s from %s", c.Spark.Version, c.Spark.Home)
	app, err := c.WriteShuffleJob()
	if err != nil {
		return err
	}

	nodes := map[string]localcluster.Node{}
	var results []sparkResult
	for i, withWebhook := range []bool{false, true} {
		name := "without sparkplane"
		if withWebhook {
			if err := c.EnableWebhook(ctx); err != nil {
				return err
			}
			name = "with sparkplane webhook"
		}
		ns := fmt.Sprintf("demo-%d", i+1)
		step("run %d (%s): spark-submit of a PySpark shuffle job with dynamic allocation (1-4 executors) ...", i+1, name)
		run, err := c.Run(ctx, localcluster.Job{Namespace: ns, Args: JobArgs("sparkplane-demo", app)})
		if err != nil {
			return err
		}
		for _, n := range c.AllNodes() {
			nodes[n.Name] = n
		}
		r := sparkResult{name: name, run: run, result: "failed"}
		if run.Driver != nil {
			r.drv = nodes[run.Driver.Node]
			r.result = jobResult(opts.Dir, ns, run.Driver.Name)
		}
		if run.SubmitErr != nil {
			r.result = fmt.Sprintf("spark-submit: %v", run.SubmitErr)
		}
		counts := map[string]int{}
		for _, e := range run.Executors {
			n := nodes[e.Node]
			if !e.Ran {
				continue
			}
			counts[strings.TrimPrefix(n.Zone, "zone-")+"/"+string(n.Capacity)]++
			if n.Zone != r.drv.Zone {
				r.cross++
			}
		}
		r.perZC = formatCounts(counts)
		if run.EventLog != "" {
			if f, err := os.Open(run.EventLog); err == nil {
				r.shuf, err = audit.ShuffleFromEventLog(f, run.ZoneOf(c))
				f.Close()
				if err != nil {
					step("reading event log: %v", err)
				}
			}
		}
		step("run %d done in %s: %s", i+1, run.Duration.Round(time.Second), r.result)
		results = append(results, r)
	}

	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tdriver\texecutors (zone/capacity)\tcross-zone driver<->executor\tresult\tduration\tshuffle fetched remotely\tof it cross-zone\tcross-zone cost")
	for _, r := range results {
		total := 0
		for _, e := range r.run.Executors {
			if e.Ran {
				total++
			}
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%d of %d\t%s\t%s\t%s\t%s\t$%.6f\n", r.name, strings.TrimPrefix(r.drv.Zone, "zone-"), r.drv.Capacity,
			r.perZC, r.cross, total, r.result, r.run.Duration.Round(time.Second), mb(r.shuf.RemoteBytesRead), mb(r.shuf.CrossZoneBytes),
			float64(r.shuf.CrossZoneBytes)/1e9*pricePerGB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nCross-zone bytes are estimated from Spark's event log (remote shuffle reads, apportioned by where map output was written), priced at $0.01/GB each way.\n")
	fmt.Fprintf(out, "At 1 TB shuffled per day the first run's cross-zone share would cost about $%.0f a month.\n", monthlyPerTB(results[0].shuf))
	fmt.Fprintf(out, "Logs of every pod: sparkplane local logs --dir %s -n demo-2 POD\n", opts.Dir)
	return nil
}

func monthlyPerTB(s audit.Shuffle) float64 {
	if s.RemoteBytesRead == 0 {
		return 0
	}
	return 1000 * pricePerGB * 30 * float64(s.CrossZoneBytes) / float64(s.RemoteBytesRead)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// jobResult says whether the job's answer was right, from its driver's log.
func jobResult(dir, namespace, driver string) string {
	line, err := localcluster.ResultLine(dir, namespace, driver)
	switch {
	case err != nil:
		return "no driver log"
	case line == "":
		return "no RESULT line"
	case strings.HasSuffix(line, "ok=True"):
		return "correct"
	}
	return "WRONG: " + strings.TrimPrefix(line, "RESULT ")
}
