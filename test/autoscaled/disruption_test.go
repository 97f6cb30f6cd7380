package autoscaled

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/cli"
	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// Karpenter's pod annotation that blocks voluntary disruption of a node.
const doNotDisrupt = "karpenter.sh/do-not-disrupt"

// TestDisruption: what Karpenter's disruptions do to running jobs, with the
// webhook on. A spot interruption takes an executor's node: Spark's
// replacement executor gets a new node in the driver's zone and the job
// finishes. Consolidation wants to replace the driver's underutilized node:
// the driver, protected, survives and the job finishes.
func TestDisruption(t *testing.T) {
	requireSpark(t)
	requireNoNodes(t, scaleDownWithin)
	t.Run("spot interruption mid-job", func(t *testing.T) {
		t.Parallel()
		testInterruption(t)
	})
	t.Run("consolidation while a job runs", func(t *testing.T) {
		t.Parallel()
		testConsolidation(t, true)
	})
}

// executors lists the executor pods of a namespace.
func executors(ctx context.Context, ns string) []corev1.Pod {
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: spark.LabelRole + "=executor"})
	if err != nil {
		return nil
	}
	return pods.Items
}

func running(p *corev1.Pod) bool {
	return p != nil && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
}

// waitFor polls cond every 500ms for up to within; false if it never held.
func waitFor(ctx context.Context, within time.Duration, cond func(ctx context.Context) bool) bool {
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, within, true, func(ctx context.Context) (bool, error) { return cond(ctx), nil })
	return err == nil
}

func liveNodeNames(ctx context.Context) sets.Set[string] {
	names := sets.New[string]()
	nodes, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, n := range nodes.Items {
			names.Insert(n.Name)
		}
	}
	return names
}

// testInterruption interrupts (through Karpenter: its NodeClaim deleted)
// the node of a running executor while its tasks are under way. The tasks
// wait for the gate, opened once a replacement executor runs.
func testInterruption(t *testing.T) {
	const ns, zone = "interrupt", "zone-a"
	gate := gatePath(t)
	var (
		victim   string               // the interrupted node
		before   sets.Set[string]     // nodes that existed when it was interrupted
		original = sets.New[string]() // executor ids running then
		res      *localcluster.InterruptResult
	)
	during := func(ctx context.Context) {
		defer openGate(t, gate) // whatever happens, let the job end
		var driverNode string
		ok := waitFor(ctx, 5*time.Minute, func(ctx context.Context) bool {
			d := driverOf(ctx, ns)
			if !running(d) {
				return false
			}
			driverNode = d.Spec.NodeName
			n := 0
			for _, e := range executors(ctx, ns) {
				if running(&e) {
					n++
				}
			}
			return n >= 2
		})
		if !ok {
			if ctx.Err() == nil {
				t.Errorf("the driver and two executors did not run within 5 minutes:\n%s", describeNodes())
			}
			return
		}
		checkAudit(t, ns)
		before = liveNodeNames(ctx)
		for _, e := range executors(ctx, ns) {
			if running(&e) {
				original.Insert(e.Labels[spark.LabelExecID])
				if victim == "" && e.Spec.NodeName != driverNode {
					victim = e.Spec.NodeName
				}
			}
		}
		if victim == "" {
			t.Errorf("every running executor shares the driver's node %s", driverNode)
			return
		}
		var err error
		res, err = cluster.Interrupt(ctx, victim, localcluster.InterruptOptions{Notice: 30 * time.Second})
		if err != nil {
			t.Errorf("interrupting %s: %v", victim, err)
			return
		}
		// A replacement executor running on a node that did not exist
		// before the interruption.
		if !waitFor(ctx, 4*time.Minute, func(ctx context.Context) bool {
			for _, e := range executors(ctx, ns) {
				if running(&e) && !original.Has(e.Labels[spark.LabelExecID]) && !before.Has(e.Spec.NodeName) {
					return true
				}
			}
			return false
		}) && ctx.Err() == nil {
			t.Errorf("no replacement executor ran on a new node within 4 minutes of the interruption:\n%s", describeNodes())
		}
	}
	run, out := runJob(t, ns, gatedArgs(ns, gate, "spark.kubernetes.driver.node.selector.topology.kubernetes.io/zone="+zone), during)
	requireCorrect(t, ns, run, out)
	if victim == "" || res == nil {
		t.Fatal("no executor node was interrupted")
	}
	t.Logf("interrupted %s (NodeClaim %s): %d pods evicted, %d lost at the end of the notice, node gone after %s",
		victim, res.NodeClaim, len(res.Evicted), len(res.Killed), res.Took.Round(time.Second))
	if _, err := cluster.Client.CoreV1().Nodes().Get(context.Background(), victim, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("interrupted node %s still there (get: %v)", victim, err)
	}
	nodes := nodesByName()
	drv := nodes[run.Driver.Node]
	replaced := 0
	for _, e := range ranExecutors(run) {
		n := nodes[e.Node]
		if n.Zone != drv.Zone {
			t.Errorf("executor %d ran in %s on %s, its driver in %s", e.ExecID, n.Zone, n.Name, drv.Zone)
		}
		if original.Has(fmt.Sprint(e.ExecID)) {
			continue
		}
		if before.Has(e.Node) {
			t.Errorf("replacement executor %d ran on %s, a node that existed before the interruption", e.ExecID, e.Node)
			continue
		}
		replaced++
		t.Logf("replacement executor %d ran on the new node %s (%s %s %s)", e.ExecID, n.Name, n.Zone, n.Capacity, n.InstanceType)
	}
	if replaced == 0 {
		t.Errorf("no replacement executor ran on a new node (executors: %+v)", run.Executors)
	}
}

// testConsolidation puts the driver on an on-demand node of the pool that
// consolidates underutilized nodes, beside a filler pod (not Spark), then
// deletes the filler while the job's tasks run: the node is then worth
// replacing by a cheaper one, which would evict the driver. The tasks wait
// for the gate, opened once Karpenter has found the node consolidatable,
// said the driver blocks its disruption, and had time to act. With
// protected false the app turns the protection off
// (sparkplane.io/driver-disruption-protection=off); that run shows what the
// protection prevents.
func testConsolidation(t *testing.T, protected bool) {
	ns := "consolidate"
	if !protected {
		ns = "unprotected"
	}
	gate := gatePath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(cluster.CP.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The filler takes 2.5 of a c5.xlarge's 3.9 allocatable CPUs: the
	// driver (1 CPU) fits beside it, an executor (2 CPUs) does not.
	filler := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "filler", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{corev1.LabelTopologyZone: consolidateZone, karpenter.LabelNodePool: consolidatePool},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "filler", Image: "pause", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			}}},
		},
	}
	if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, filler, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Left behind, it would keep its node up for the tests after this one.
	t.Cleanup(func() {
		err := cluster.Client.CoreV1().Pods(ns).Delete(context.Background(), filler.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting the filler: %v", err)
		}
	})
	var node string
	if !waitFor(ctx, 3*time.Minute, func(ctx context.Context) bool {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, filler.Name, metav1.GetOptions{})
		node = ""
		if err == nil && running(p) {
			node = p.Spec.NodeName
		}
		return node != ""
	}) {
		t.Fatalf("the filler pod did not run within 3 minutes:\n%s\n%s", describeNodes(), karpenterLogTail(30))
	}
	t.Logf("filler running on %s (%s)", node, nodesByName()[node].InstanceType)

	var (
		driverUID      types.UID
		fillerDeleted  time.Time
		consolidatable time.Time
		blocked        string // the DisruptionBlocked event's message
		// heldConsolidatable: still consolidatable after the wait, so the
		// driver alone kept Karpenter from replacing the node all along.
		heldConsolidatable bool
	)
	during := func(ctx context.Context) {
		defer openGate(t, gate)
		var d *corev1.Pod
		if !waitFor(ctx, 5*time.Minute, func(ctx context.Context) bool {
			d = driverOf(ctx, ns)
			if !running(d) {
				return false
			}
			for _, e := range executors(ctx, ns) {
				if running(&e) {
					return true
				}
			}
			return false
		}) {
			if ctx.Err() == nil {
				t.Errorf("the driver and an executor did not run within 5 minutes:\n%s", describeNodes())
			}
			return
		}
		if d.Spec.NodeName != node {
			t.Errorf("the driver runs on %s, not beside the filler on %s", d.Spec.NodeName, node)
			return
		}
		driverUID = d.UID
		if err := cluster.Client.CoreV1().Pods(ns).Delete(ctx, filler.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Errorf("deleting the filler: %v", err)
			return
		}
		fillerDeleted = time.Now()
		// Karpenter finds the node consolidatable consolidateAfter after
		// its last pod change, and says why it may not disrupt it.
		if !waitFor(ctx, 3*time.Minute, func(ctx context.Context) bool {
			if consolidatable.IsZero() && isConsolidatable(ctx, dyn, node) {
				consolidatable = time.Now()
			}
			if blocked == "" {
				blocked = disruptionBlocked(ctx, node)
			}
			return !consolidatable.IsZero() && (blocked != "" || !protected)
		}) {
			if ctx.Err() == nil {
				t.Errorf("within 3 minutes of the filler's deletion: consolidatable %v, DisruptionBlocked %q\n%s\nthe end of Karpenter's log:\n%s",
					!consolidatable.IsZero(), blocked, describeNodes(), karpenterLogTail(40))
			}
			return
		}
		// Give Karpenter the time a replacement takes: its next disruption
		// pass (every 10s), the 15s it waits before acting on a command,
		// the replacement's launch and the eviction.
		select {
		case <-ctx.Done():
			return
		case <-time.After(60 * time.Second):
		}
		heldConsolidatable = isConsolidatable(ctx, dyn, node)
	}
	driverArgs := []string{
		"spark.kubernetes.driver.node.selector." + corev1.LabelTopologyZone + "=" + consolidateZone,
		"spark.kubernetes.driver.node.selector." + karpenter.LabelNodePool + "=" + consolidatePool,
	}
	if !protected {
		driverArgs = append(driverArgs, "spark.kubernetes.driver.annotation.sparkplane.io/driver-disruption-protection=off")
	}
	run, out := runJob(t, ns, gatedArgs(ns, gate, driverArgs...), during)
	jobEnded := time.Now()
	t.Logf("filler deleted %s; node %s consolidatable %s later; DisruptionBlocked: %q",
		fillerDeleted.Format(time.TimeOnly), node, sinceOrNever(consolidatable, fillerDeleted), blocked)
	evictions := podEvents(ctx, ns)
	if evictions != "" {
		t.Logf("events of the job's pods:\n%s", evictions)
	}
	if run.Driver != nil {
		t.Logf("driver annotations: %s=%q", doNotDisrupt, run.Driver.Annotations[doNotDisrupt])
	}
	if run.Driver == nil {
		t.Fatal("no driver pod seen")
	}
	if protected && run.Driver.Annotations[doNotDisrupt] != "true" {
		t.Errorf("driver annotation %s=%q, want \"true\" (the webhook's protection)", doNotDisrupt, run.Driver.Annotations[doNotDisrupt])
	}
	// Evicted, the driver pod would be gone (or replaced by nothing: Spark
	// does not recreate it).
	d, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, run.Driver.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		t.Errorf("driver pod %s was evicted or deleted while the job ran: %v", run.Driver.Name, err)
	case d.UID != driverUID || d.DeletionTimestamp != nil:
		t.Errorf("driver pod %s: uid %s (was %s), deletion %v", d.Name, d.UID, driverUID, d.DeletionTimestamp)
	}
	requireCorrect(t, ns, run, out)
	if n := nodesByName()[node]; !n.Deleted.IsZero() && n.Deleted.Before(jobEnded) {
		t.Errorf("node %s was removed at %s, before the job ended", node, n.Deleted.Format(time.TimeOnly))
	}
	if consolidatable.IsZero() {
		t.Errorf("Karpenter never found node %s consolidatable: the test proved nothing", node)
	}
	if protected && !heldConsolidatable {
		t.Errorf("node %s was no longer consolidatable when the gate opened: the wait did not cover a consolidatable node", node)
	}
	if protected && !strings.Contains(blocked, doNotDisrupt) {
		t.Errorf("no DisruptionBlocked event naming %s on node %s or its NodeClaim (got %q)", doNotDisrupt, node, blocked)
	}
}

func sinceOrNever(t, from time.Time) string {
	if t.IsZero() || from.IsZero() {
		return "never"
	}
	return t.Sub(from).Round(time.Second).String()
}

// nodeClaim is the NodeClaim of a node (nil if none names it).
func nodeClaim(ctx context.Context, dyn dynamic.Interface, node string) *unstructured.Unstructured {
	list, err := dyn.Resource(localcluster.NodeClaimGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	for i := range list.Items {
		if name, _, _ := unstructured.NestedString(list.Items[i].Object, "status", "nodeName"); name == node {
			return &list.Items[i]
		}
	}
	return nil
}

// isConsolidatable says whether the node's NodeClaim has Karpenter's
// Consolidatable condition True.
func isConsolidatable(ctx context.Context, dyn dynamic.Interface, node string) bool {
	c := nodeClaim(ctx, dyn, node)
	if c == nil {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	for _, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == "Consolidatable" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// disruptionBlocked returns the message of a DisruptionBlocked event on the
// node (or its NodeClaim, whose name Karpenter uses as the hostname) that
// names do-not-disrupt, or "".
func disruptionBlocked(ctx context.Context, node string) string {
	evs, err := cluster.Client.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", "DisruptionBlocked").String()})
	if err != nil {
		return ""
	}
	claim := ""
	if n, err := cluster.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err == nil {
		claim = n.Labels[corev1.LabelHostname]
	}
	for _, e := range evs.Items {
		if (e.InvolvedObject.Name == node || (claim != "" && e.InvolvedObject.Name == claim)) && strings.Contains(e.Message, doNotDisrupt) {
			return e.Message
		}
	}
	return ""
}

// podEvents lists the events of the job's pods that are about disruption
// (evictions, deletions), one per line.
func podEvents(ctx context.Context, ns string) string {
	evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, e := range evs.Items {
		if e.Source.Component == "karpenter" || strings.Contains(e.Reason, "Evict") || strings.Contains(e.Reason, "Disrupt") {
			lines = append(lines, fmt.Sprintf("  %s %s/%s: %s %s", e.LastTimestamp.Format(time.TimeOnly), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// checkAudit runs 'sparkplane audit -o json' on the namespace of a running
// app whose nodes Karpenter launched: it reads their zone and capacity type
// as on static nodes (driver on on-demand, executors in its zone, on spot).
func checkAudit(t *testing.T, ns string) {
	t.Helper()
	var out, errOut strings.Builder
	cmd := cli.NewRootCommand()
	cmd.SetArgs([]string{"audit", "-n", ns, "-o", "json", "--kubeconfig", cluster.Kubeconfig})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.Execute(); err != nil {
		t.Errorf("sparkplane audit: %v\n%s", err, errOut.String())
		return
	}
	var report struct {
		Summary struct {
			Drivers, DriversOnDemand, Executors, ExecutorsSpot, SameZone, CrossZone, UnknownZone int
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out.String()), &report); err != nil {
		t.Errorf("sparkplane audit -o json: %v\n%s", err, out.String())
		return
	}
	s := report.Summary
	t.Logf("sparkplane audit on Karpenter's nodes: %+v", s)
	if s.Drivers != 1 || s.DriversOnDemand != 1 || s.Executors < 2 || s.ExecutorsSpot != s.Executors || s.SameZone != s.Executors || s.CrossZone != 0 || s.UnknownZone != 0 {
		t.Errorf("sparkplane audit on Karpenter's nodes: %+v; want 1 driver on on-demand, every executor on spot in its zone", s)
	}
}
