package autoscaled

import (
	"context"
	"fmt"
	"github.com/sparkplane/sparkplane/test/testkit"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

func requireSpark(t *testing.T) {
	t.Helper()
	if skip != "" {
		t.Skip(skip)
	}
}

// jvmOpts make the short-lived JVMs cheaper on a small machine: the C1
// compiler only and the serial collector cut a small job's CPU time by
// about 40%.
const jvmOpts = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

// jobArgs are spark-submit's arguments: small heaps, no UI, two executors,
// then the app and its arguments. Executors request 2 CPUs (one task slot
// each): a node Karpenter sizes for drivers (1 CPU each) always has less
// than 2 CPUs left, so an executor never squeezes in beside drivers and
// every executor's node is one launched for executors.
func jobArgs(name string, confs []string, app string, appArgs ...string) []string {
	base := []string{"spark.executor.memory=512m", "spark.driver.memory=512m", "spark.executor.cores=1",
		"spark.kubernetes.executor.request.cores=2", "spark.executor.instances=2", "spark.ui.enabled=false",
		"spark.kubernetes.allocation.batch.delay=500ms",
		"spark.driver.extraJavaOptions=" + jvmOpts, "spark.executor.extraJavaOptions=" + jvmOpts}
	args := []string{"--name", name}
	for _, c := range append(base, confs...) {
		args = append(args, "--conf", c)
	}
	return append(append(args, app), appArgs...)
}

// shuffleArgs is a short job of shuffle.py: one phase of 4 one-second tasks.
func shuffleArgs(name string, confs ...string) []string {
	return jobArgs(name, confs, shuffleApp, "1", "4", "1", "0", "100000")
}

// gatedArgs is a job of gated.py whose tasks wait for the file gate.
func gatedArgs(name, gate string, confs ...string) []string {
	return jobArgs(name, confs, gatedApp, gate, "4", "100000", "300")
}

// runJob runs a job to the end in its own namespace, with during running
// alongside it until spark-submit returns. It fails the test if spark-submit
// could not be run; the caller checks the outcome.
func runJob(t *testing.T, ns string, args []string, during func(ctx context.Context)) (*localcluster.Run, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	duringCtx, stopDuring := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if during != nil {
			during(duringCtx)
		}
	}()
	out := &testkit.Buffer{}
	run, err := cluster.Run(ctx, localcluster.Job{Namespace: ns, Args: args, Output: out})
	stopDuring()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: spark-submit returned after %s; %d executors seen", ns, run.Duration.Round(time.Second), len(run.Executors))
	return run, out.String()
}

// requireCorrect fails the test unless spark-submit succeeded, the driver
// succeeded and its log carries a right answer.
func requireCorrect(t *testing.T, ns string, run *localcluster.Run, out string) {
	t.Helper()
	if run.SubmitErr != nil {
		t.Fatalf("%s: spark-submit: %v\n%s", ns, run.SubmitErr, testkit.Tail(out, 40))
	}
	if run.Driver == nil {
		t.Fatalf("%s: no driver pod seen", ns)
	}
	line, err := localcluster.ResultLine(cluster.Dir(), ns, run.Driver.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(line, "ok=True") {
		t.Fatalf("%s: job answer %q (sparkplane local logs --dir %s -n %s %s)", ns, line, cluster.Dir(), ns, run.Driver.Name)
	}
	if run.Driver.Phase != corev1.PodSucceeded {
		t.Errorf("%s: driver phase %s", ns, run.Driver.Phase)
	}
}

func nodesByName() map[string]localcluster.Node {
	m := map[string]localcluster.Node{}
	for _, n := range cluster.AllNodes() {
		m[n.Name] = n
	}
	return m
}

// ranExecutors are the executors of run that reached Running.
func ranExecutors(run *localcluster.Run) []localcluster.PodRecord {
	var out []localcluster.PodRecord
	for _, e := range run.Executors {
		if e.Ran {
			out = append(out, e)
		}
	}
	return out
}

// requireNoNodes waits until Karpenter has removed every node it launched
// (within within), failing the test with the nodes left, their pods and the
// end of Karpenter's log if it has not. It returns how long it waited.
func requireNoNodes(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		nodes, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(nodes.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("nodes still there %s after the jobs ended (consolidateAfter %s):\n%s\nthe end of Karpenter's log (%s):\n%s",
			within, consolidateAfter, describeNodes(), cluster.KarpenterLog(), karpenterLogTail(40))
	}
	return time.Since(start)
}

// describeNodes lists the live nodes with their zone, capacity type and
// unfinished pods.
func describeNodes() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, n := range nodes.Items {
		fmt.Fprintf(&b, "  %s zone=%s capacity=%s type=%s pool=%s created=%s", n.Name, n.Labels[corev1.LabelTopologyZone],
			n.Labels["karpenter.sh/capacity-type"], n.Labels[corev1.LabelInstanceTypeStable], n.Labels["karpenter.sh/nodepool"],
			n.CreationTimestamp.Format(time.TimeOnly))
		pods, err := cluster.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", n.Name).String()})
		if err == nil {
			for _, p := range pods.Items {
				fmt.Fprintf(&b, " pod=%s/%s(%s)", p.Namespace, p.Name, p.Status.Phase)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func karpenterLogTail(n int) string {
	data, err := os.ReadFile(cluster.KarpenterLog())
	if err != nil {
		return err.Error()
	}
	return testkit.Tail(string(data), n)
}

// launchedSince are the nodes Karpenter launched at or after t, by name.
func launchedSince(t time.Time) []localcluster.Node {
	var out []localcluster.Node
	for _, n := range cluster.AllNodes() {
		if !n.Created.Before(t.Truncate(time.Second)) {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// summarize is one line per node: zone, capacity type, instance type, pool
// and how long it lived.
func summarize(nodes []localcluster.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		life := "still up"
		if !n.Deleted.IsZero() {
			life = "lived " + n.Deleted.Sub(n.Created).Round(time.Second).String()
		}
		fmt.Fprintf(&b, "\n  %s %s %s %s pool=%s %s", n.Name, n.Zone, n.Capacity, n.InstanceType, n.NodePool, life)
	}
	return b.String()
}

// capacityCounts counts nodes by capacity type.
func capacityCounts(nodes []localcluster.Node) map[v1alpha1.CapacityType]int {
	m := map[v1alpha1.CapacityType]int{}
	for _, n := range nodes {
		m[n.Capacity]++
	}
	return m
}

// driverOf returns the driver pod of a namespace once it exists (nil
// otherwise).
func driverOf(ctx context.Context, ns string) *corev1.Pod {
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: spark.LabelRole + "=driver"})
	if err != nil || len(pods.Items) == 0 {
		return nil
	}
	return &pods.Items[0]
}

// openGate creates the gate file a gated job waits for.
func openGate(t *testing.T, gate string) {
	t.Helper()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Errorf("opening the gate: %v", err)
	}
}

// gatePath is a gate file for a job, in the test's temporary directory.
func gatePath(t *testing.T) string { return filepath.Join(t.TempDir(), "gate") }
