package demo

import (
	"context"
	"io"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// ConsolidateAfter is how long the autoscaled demo's and benchmark's
// NodePool lets a node stay empty before Karpenter removes it: short, so a
// run ends soon after its job.
const ConsolidateAfter = "10s"

// AutoscaledOptions returns local cluster options for an autoscaled run
// from zero nodes: the real Karpenter with one NodePool that may launch
// spot and on-demand nodes in every zone and removes a node once it has
// been empty for ConsolidateAfter, all at once (budget 100%). The policy is
// WhenEmpty, not WhenEmptyOrUnderutilized: underutilization would evict
// running Spark drivers (bare pods nothing recreates), which is a different
// story from where nodes launch. The webhook starts off.
func AutoscaledOptions(dir string) localcluster.Options {
	o := localcluster.Defaults(dir)
	o.Autoscaler = localcluster.AutoscalerKarpenter
	o.OnDemandPerZone, o.SpotPerZone = 0, 0
	o.Webhook = false
	o.Karpenter = localcluster.KarpenterOptions{NodePools: []karpenter.NodePoolOptions{{
		Name: "default", NodeClass: localcluster.NodeClassName,
		CapacityTypes:       []string{karpenter.CapacitySpot, karpenter.CapacityOnDemand},
		ConsolidationPolicy: karpenter.ConsolidateWhenEmpty, ConsolidateAfter: ConsolidateAfter,
		Budgets: []karpenter.Budget{{Nodes: "100%"}},
	}}}
	return o
}

// RunAutoscaled runs the demo on an autoscaled local cluster: from zero
// nodes, the real Karpenter launches a node for every pod that fits
// nowhere, once without and once with the sparkplane webhook, waiting
// between runs until Karpenter has removed every node. It prints the nodes
// as they come and go, where every executor ran, and per run the nodes'
// lives and cost at the generated prices next to the fixed demo's columns.
func RunAutoscaled(ctx context.Context, out io.Writer, opts SparkOptions) error {
	step := stepper(out)
	logs, logPath, err := componentLog(opts)
	if err != nil {
		return err
	}
	lo := AutoscaledOptions(opts.Dir)
	if logs != nil {
		defer logs.Close()
		lo.LogWriter = logs
	}
	lo.Recreate, lo.Log, lo.Progress = true, klog.NewKlogr(), out
	step("starting the local cluster from zero nodes: etcd, kube-apiserver, kube-scheduler, webhook (off), and Karpenter (logs: %s)", logPath)
	c, err := localcluster.Start(ctx, lo)
	if err != nil {
		return err
	}
	defer c.Stop()
	step("ready: Spark %s, Karpenter (log %s), NodePool %q: spot and on-demand in %s, empty nodes removed after %s",
		c.Spark.Version, c.KarpenterLog(), lo.Karpenter.NodePools[0].Name, strings.Join(lo.Zones, ", "), ConsolidateAfter)
	watch := WatchNodes(c, step)
	defer watch.Stop()

	var began time.Time
	before := func(int) error {
		if err := WaitNoNodes(ctx, c, 5*time.Minute, step); err != nil {
			return err
		}
		began = time.Now()
		return nil
	}
	after := func(i int, r *demoRun) error {
		d := r.job.Driver
		step("  driver     ran on %s  %s %s %s", ShortNode(d), d.Zone, d.Capacity, d.InstanceType)
		for _, e := range r.job.Executors {
			where := "same zone"
			if e.Node.Zone != d.Zone {
				where = "CROSS-ZONE"
			}
			step("  executor %d ran on %s  %s %s %s  (%s)", e.ID, ShortNode(e.Node), e.Node.Zone, e.Node.Capacity, e.Node.InstanceType, where)
		}
		// The run's nodes are those launched since it began; their lives
		// end when Karpenter removes them.
		if err := WaitNoNodes(ctx, c, 5*time.Minute, step); err != nil {
			return err
		}
		watch.Flush()
		u := Usage(Launched(c.AllNodes(), began, time.Time{}), c.Catalog(), time.Now())
		r.usage = &u
		step("run %d: %d node(s) launched (%s; %s), %.0f node-seconds, $%.5f at the generated prices", i+1, u.Nodes, u.ByZone, u.ByType, u.NodeSeconds, u.Cost)
		return nil
	}
	runs, err := runJobs(ctx, c, step, AutoscaledJobArgs, before, after)
	watch.Stop()
	if err != nil {
		return err
	}
	return printRuns(out, opts.Dir, runs)
}
