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
	Dir string
	// LogFile receives the components' logs; empty: the cluster directory's
	// own component log (localcluster.ComponentLogPath).
	LogFile string
}

// JobArgs are the spark-submit arguments of the demo job: a PySpark job
// with a full shuffle, in two busy phases with an idle pause between, under
// dynamic allocation (min 1, max 4, short idle timeout), small heaps.
func JobArgs(name, app string) []string { return jobArgs(name, app, "512m") }

// AutoscaledJobArgs are JobArgs with 4g executors: a lean driver and
// memory-heavy executors, the usual Spark shape. On the autoscaled cluster
// the shape decides the instance family Karpenter picks (c5 for the driver,
// m5 for these executors), and with it the zone of the cheapest spot offer.
func AutoscaledJobArgs(name, app string) []string { return jobArgs(name, app, "4g") }

func jobArgs(name, app, executorMemory string) []string {
	confs := []string{
		"spark.executor.memory=" + executorMemory, "spark.driver.memory=512m", "spark.executor.cores=1",
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

// JobSummary is where one Spark job's pods ran and what it shuffled across
// zones.
type JobSummary struct {
	Namespace string
	Run       *localcluster.Run
	// Result is "correct", "WRONG: ...", or why there is no answer.
	Result string
	// Driver is the node the driver ran on.
	Driver localcluster.Node
	// Executors are the nodes of the executors that ran, by executor id.
	Executors []ExecutorNode
	// CrossZone counts executors that ran outside the driver's zone.
	CrossZone int
	// Shuffle is from the job's Spark event log (zero without one).
	Shuffle audit.Shuffle
}

// ExecutorNode is where one executor ran.
type ExecutorNode struct {
	ID   int
	Node localcluster.Node
}

// Summarize reads a finished run: its nodes (from the cluster's record,
// removed nodes included), the driver's answer and the event log's shuffle
// bytes by zone. Problems reading the event log are returned with the
// summary, which is still usable.
func Summarize(c *localcluster.Cluster, ns string, run *localcluster.Run) (JobSummary, error) {
	nodes := map[string]localcluster.Node{}
	for _, n := range c.AllNodes() {
		nodes[n.Name] = n
	}
	s := JobSummary{Namespace: ns, Run: run, Result: "failed"}
	if run.Driver != nil {
		s.Driver = nodes[run.Driver.Node]
		s.Result = jobResult(c.Dir(), ns, run.Driver.Name)
	}
	if run.SubmitErr != nil {
		s.Result = fmt.Sprintf("spark-submit: %v", run.SubmitErr)
	}
	for _, e := range run.Executors {
		if !e.Ran {
			continue
		}
		n := nodes[e.Node]
		s.Executors = append(s.Executors, ExecutorNode{ID: e.ExecID, Node: n})
		if n.Zone != s.Driver.Zone {
			s.CrossZone++
		}
	}
	if run.EventLog == "" {
		return s, nil
	}
	f, err := os.Open(run.EventLog)
	if err != nil {
		return s, fmt.Errorf("reading event log: %w", err)
	}
	defer f.Close()
	if s.Shuffle, err = audit.ShuffleFromEventLog(f, run.ZoneOf(c)); err != nil {
		return s, fmt.Errorf("reading event log %s: %w", run.EventLog, err)
	}
	return s, nil
}

// PerZone counts the executors by zone and capacity type: "a/spot:2 b/on-demand:1".
func (s JobSummary) PerZone() string {
	counts := map[string]int{}
	for _, e := range s.Executors {
		counts[shortZone(e.Node.Zone)+"/"+string(e.Node.Capacity)]++
	}
	return formatCounts(counts)
}

// demoRun is one row of a demo: a job run without or with the webhook.
type demoRun struct {
	name string
	job  JobSummary
	// usage is set on an autoscaled cluster: the nodes launched for the run.
	usage *NodeUsage
}

// runJobs runs the demo job twice on c: without, then with the sparkplane
// webhook. before is called ahead of each run (e.g. to wait for an empty
// cluster), after once the job has ended; either may be nil.
func runJobs(ctx context.Context, c *localcluster.Cluster, step func(string, ...any), args func(name, app string) []string,
	before func(i int) error, after func(i int, r *demoRun) error) ([]demoRun, error) {
	app, err := c.WriteShuffleJob()
	if err != nil {
		return nil, err
	}
	var runs []demoRun
	for i, withWebhook := range []bool{false, true} {
		name := "without sparkplane"
		if withWebhook {
			if err := c.EnableWebhook(ctx); err != nil {
				return nil, err
			}
			name = "with sparkplane webhook"
		}
		if before != nil {
			if err := before(i); err != nil {
				return nil, err
			}
		}
		ns := fmt.Sprintf("demo-%d", i+1)
		step("run %d (%s): spark-submit of a PySpark shuffle job with dynamic allocation (1-4 executors) ...", i+1, name)
		run, err := c.Run(ctx, localcluster.Job{Namespace: ns, Args: args("sparkplane-demo", app)})
		if err != nil {
			return nil, err
		}
		job, err := Summarize(c, ns, run)
		if err != nil {
			step("%v", err)
		}
		r := demoRun{name: name, job: job}
		step("run %d done in %s: %s", i+1, run.Duration.Round(time.Second), job.Result)
		if after != nil {
			if err := after(i, &r); err != nil {
				return nil, err
			}
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// printRuns prints the demo's table, with the node columns when the runs
// have them, and the notes under it.
func printRuns(out io.Writer, dir string, runs []demoRun) error {
	fmt.Fprintln(out)
	withNodes := len(runs) > 0 && runs[0].usage != nil
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	header := "run\tdriver\texecutors (zone/capacity)\tcross-zone driver<->executor\tresult\tduration\tshuffle fetched remotely\tof it cross-zone\tcross-zone cost"
	if withNodes {
		header += "\tnodes launched (zone/capacity)\tnode-seconds\tnode cost"
	}
	fmt.Fprintln(tw, header)
	for _, r := range runs {
		j := r.job
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%d of %d\t%s\t%s\t%s\t%s\t$%.6f", r.name, shortZone(j.Driver.Zone), j.Driver.Capacity,
			j.PerZone(), j.CrossZone, len(j.Executors), j.Result, j.Run.Duration.Round(time.Second), mb(j.Shuffle.RemoteBytesRead), mb(j.Shuffle.CrossZoneBytes),
			float64(j.Shuffle.CrossZoneBytes)/1e9*pricePerGB)
		if withNodes {
			fmt.Fprintf(tw, "\t%s\t%.0f\t$%.5f", r.usage.ByZone, r.usage.NodeSeconds, r.usage.Cost)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nCross-zone bytes are estimated from Spark's event log (remote shuffle reads, apportioned by where map output was written), priced at $0.01/GB each way.\n")
	fmt.Fprintf(out, "At 1 TB shuffled per day the first run's cross-zone share would cost about $%.0f a month.\n", monthlyPerTB(runs[0].job.Shuffle))
	if withNodes {
		fmt.Fprintf(out, "Node-seconds: each launched node's life, from its creation to its removal by Karpenter; node cost: that life at the generated hourly price of its instance type, zone and capacity type.\n")
	}
	fmt.Fprintf(out, "Logs of every pod: sparkplane local logs --dir %s -n demo-2 POD\n", dir)
	return nil
}

// componentLog opens opts.LogFile for the cluster's components, or returns
// nil (and the path the cluster writes itself) when none was given.
func componentLog(opts SparkOptions) (io.WriteCloser, string, error) {
	if opts.LogFile == "" {
		return nil, localcluster.ComponentLogPath(opts.Dir), nil
	}
	f, err := os.Create(opts.LogFile)
	if err != nil {
		return nil, "", fmt.Errorf("creating log file: %w", err)
	}
	return f, opts.LogFile, nil
}

// RunSpark runs the demo on a local cluster with real Spark JVMs.
func RunSpark(ctx context.Context, out io.Writer, opts SparkOptions) error {
	step := stepper(out)
	logs, logPath, err := componentLog(opts)
	if err != nil {
		return err
	}
	lo := localcluster.Defaults(opts.Dir)
	if logs != nil {
		defer logs.Close()
		lo.LogWriter = logs
	}
	// Each demo run starts afresh in its own directory (the earlier run's
	// files go, foreign directories are still refused).
	lo.Recreate = true
	lo.Webhook, lo.Log = false, klog.NewKlogr()
	step("starting the local cluster: etcd, kube-apiserver, kube-scheduler, webhook, 9 nodes in 3 zones (logs: %s)", logPath)
	c, err := localcluster.Start(ctx, lo)
	if err != nil {
		return err
	}
	defer c.Stop()
	step("ready: Spark %s from %s", c.Spark.Version, c.Spark.Home)
	runs, err := runJobs(ctx, c, step, JobArgs, nil, nil)
	if err != nil {
		return err
	}
	return printRuns(out, opts.Dir, runs)
}

func monthlyPerTB(s audit.Shuffle) float64 {
	if s.RemoteBytesRead == 0 {
		return 0
	}
	return 1000 * pricePerGB * 30 * float64(s.CrossZoneBytes) / float64(s.RemoteBytesRead)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func shortZone(z string) string { return strings.TrimPrefix(z, "zone-") }

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
