package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/cli"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/spark"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// auditReport is the part of `sparkplane audit -o json` the test reads,
// under the documented field names.
type auditReport struct {
	Namespace     string `json:"namespace"`
	AllNamespaces bool   `json:"allNamespaces"`
	Apps          []struct {
		AppID  string `json:"appID"`
		Name   string `json:"name"`
		Driver *struct {
			Pod          string `json:"pod"`
			Zone         string `json:"zone"`
			CapacityType string `json:"capacityType"`
			Pending      *struct {
				Reason  string `json:"reason"`
				Message string `json:"message"`
			} `json:"pending"`
		} `json:"driver"`
		Executors struct {
			Bound, SameZone, CrossZone, UnknownZone, Pending int
		} `json:"executors"`
		Placements []struct {
			Zone         string `json:"zone"`
			CapacityType string `json:"capacityType"`
			Executors    int    `json:"executors"`
		} `json:"placements"`
		CrossZonePairs []struct {
			Driver, DriverZone, Executor, ExecutorNode, ExecutorZone, ExecutorCapacityType string
		} `json:"crossZonePairs"`
		PendingExecutors []struct {
			Pod, Reason, Message, Decision, ZoneMode string
		} `json:"pendingExecutors"`
		DriverGone *struct {
			Reason, Pod, Phase, Message string
		} `json:"driverGone"`
	} `json:"apps"`
	FinishedApps []struct {
		Namespace, AppID, Name, DriverPod, Phase string
	} `json:"finishedApps"`
	Summary struct {
		Apps, Drivers, DriversPending, Executors, SameZone, CrossZone, UnknownZone, Pending, AppsWithCrossZone int
		CrossZoneShare                                                                                         float64
	} `json:"summary"`
	Cost struct {
		PricePerGiB        float64  `json:"pricePerGiB"`
		GiBPerExecutorHour float64  `json:"gibPerExecutorHour"`
		Assumed            estimate `json:"assumed"`
		Measured           *estimate
	} `json:"cost"`
}

type estimate struct {
	MonthlyGiB, MonthlyUSD float64
	Assumption             string
}

// runAudit runs the real `sparkplane audit` command against the shared
// control plane (kubeconfig "": KUBECONFIG, as runCLI sets it).
func runAudit(t *testing.T, kubeconfig string, args ...string) (stdout string, err error) {
	t.Helper()
	cmd := cli.NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if kubeconfig != "" {
		args = append([]string{"--kubeconfig", kubeconfig}, args...)
	}
	cmd.SetArgs(append([]string{"audit"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), err
}

func auditJSON(t *testing.T, kubeconfig string, args ...string) auditReport {
	t.Helper()
	out, err := runAudit(t, kubeconfig, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("audit %v: %v", args, err)
	}
	var r auditReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("audit %v: decoding %q: %v", args, out, err)
	}
	return r
}

// createPod creates a Spark pod as built, placed on node (none: left to
// the scheduler). A pod created with spec.nodeName bypasses scheduling, so
// the placement is deliberate whatever the webhook adds.
func createPod(t *testing.T, p *corev1.Pod, node string) *corev1.Pod {
	t.Helper()
	p.Spec.NodeName = node
	created, err := shared.cp.Client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", p.Name, err)
	}
	return created
}

func waitUnschedulable(t *testing.T, ns, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p := getPod(t, ns, name)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s never reported unschedulable: %v", ns, name, err)
	}
}

// Mixed placements on the real control plane: an app with executors in and
// outside its driver's zone and one that cannot be scheduled, an app whose
// driver cannot be scheduled, and (in another namespace) an aligned app.
// The audit command reports each of them, the cost both ways, and
// --fail-on-cross-zone fails only where an executor is outside its
// driver's zone. The webhook's placement gauges agree with the audit.
func TestAuditMixedPlacements(t *testing.T) {
	nodes := createNodes(t, perZone([]string{"audit-a", "audit-b"}, "8", "8")...)
	node := map[string]string{} // "zone/capacity" -> node name
	for name, n := range nodes {
		node[n.zone+"/"+string(n.capacity)] = name
	}
	ns, ns2 := namespace(t), namespace(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := shared.cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	// Executors only prefer their driver's zone, so the availability escape
	// leaves the unschedulable one alone.
	preferred := map[string]string{placement.AnnotationZonePinning: "preferred"}

	mixed := sparksim.App{Namespace: ns, Name: "mixed", DriverAnnotations: preferred}
	drv := createPod(t, sparksim.DriverPod(mixed), node["audit-a/on-demand"])
	createPod(t, sparksim.ExecutorPod(mixed, drv, 1), node["audit-a/spot"])
	createPod(t, sparksim.ExecutorPod(mixed, drv, 2), node["audit-b/spot"])
	createPod(t, sparksim.ExecutorPod(mixed, drv, 3), node["audit-b/on-demand"])
	big := sparksim.App{Namespace: ns, Name: "mixed", DriverAnnotations: preferred, ExecutorCPU: "1000"}
	stuck := createPod(t, sparksim.ExecutorPod(big, drv, 4), "")

	waiting := sparksim.App{Namespace: ns, Name: "waiting", DriverCPU: "1000"}
	waitingDrv := createPod(t, sparksim.DriverPod(waiting), "")

	aligned := sparksim.App{Namespace: ns2, Name: "aligned", DriverAnnotations: preferred}
	drv2 := createPod(t, sparksim.DriverPod(aligned), node["audit-b/on-demand"])
	createPod(t, sparksim.ExecutorPod(aligned, drv2, 1), node["audit-b/spot"])
	createPod(t, sparksim.ExecutorPod(aligned, drv2, 2), node["audit-b/spot"])

	waitUnschedulable(t, ns, stuck.Name)
	waitUnschedulable(t, ns, waitingDrv.Name)

	r := auditJSON(t, kubeconfig, "-n", ns)
	if r.Namespace != ns || r.AllNamespaces || len(r.Apps) != 2 {
		t.Fatalf("scope %q/%v, %d apps, want %s and 2: %+v", r.Namespace, r.AllNamespaces, len(r.Apps), ns, r.Apps)
	}
	byName := map[string]int{}
	for i, a := range r.Apps {
		byName[a.Name] = i
	}
	m := r.Apps[byName["mixed"]]
	if m.AppID != spark.AppID(drv) || m.Driver == nil || m.Driver.Pod != drv.Name || m.Driver.Zone != "audit-a" || m.Driver.CapacityType != "on-demand" {
		t.Errorf("mixed: app %s driver %+v, want %s on audit-a/on-demand", m.AppID, m.Driver, drv.Name)
	}
	if e := m.Executors; e.Bound != 3 || e.SameZone != 1 || e.CrossZone != 2 || e.UnknownZone != 0 || e.Pending != 1 {
		t.Errorf("mixed: executors %+v, want 3 bound: 1 same zone, 2 cross-zone; 1 pending", e)
	}
	gotPlacements := map[string]int{}
	for _, p := range m.Placements {
		gotPlacements[p.Zone+"/"+p.CapacityType] = p.Executors
	}
	if want := map[string]int{"audit-a/spot": 1, "audit-b/spot": 1, "audit-b/on-demand": 1}; fmt.Sprint(gotPlacements) != fmt.Sprint(want) {
		t.Errorf("mixed: placements %v, want %v", gotPlacements, want)
	}
	if len(m.CrossZonePairs) != 2 {
		t.Fatalf("mixed: cross-zone pairs %+v, want 2", m.CrossZonePairs)
	}
	for i, want := range []struct{ node, capacity string }{{node["audit-b/spot"], "spot"}, {node["audit-b/on-demand"], "on-demand"}} {
		p := m.CrossZonePairs[i]
		if p.Driver != drv.Name || p.DriverZone != "audit-a" || p.ExecutorZone != "audit-b" || p.ExecutorNode != want.node || p.ExecutorCapacityType != want.capacity {
			t.Errorf("mixed: pair %d %+v, want driver %s (audit-a) <-> %s (audit-b, %s)", i, p, drv.Name, want.node, want.capacity)
		}
	}
	if len(m.PendingExecutors) != 1 {
		t.Fatalf("mixed: pending %+v, want 1", m.PendingExecutors)
	}
	if p := m.PendingExecutors[0]; p.Pod != stuck.Name || p.Reason != "Unschedulable" || !strings.Contains(p.Message, "Insufficient cpu") ||
		p.ZoneMode != "preferred" || !strings.Contains(p.Decision, "audit-a") {
		t.Errorf("mixed: pending executor %+v, want %s Unschedulable (Insufficient cpu) with the webhook's decision preferring audit-a", p, stuck.Name)
	}
	w := r.Apps[byName["waiting"]]
	if w.Driver == nil || w.Driver.Pending == nil || w.Driver.Pending.Reason != "Unschedulable" || !strings.Contains(w.Driver.Pending.Message, "Insufficient cpu") || w.Executors.Bound != 0 {
		t.Errorf("waiting: driver %+v, want pending Unschedulable", w.Driver)
	}
	s := r.Summary
	if s.Apps != 2 || s.Drivers != 1 || s.DriversPending != 1 || s.Executors != 3 || s.SameZone != 1 || s.CrossZone != 2 || s.Pending != 1 ||
		s.AppsWithCrossZone != 1 || math.Abs(s.CrossZoneShare-2.0/3) > 1e-9 {
		t.Errorf("summary %+v", s)
	}
	// Defaults: 2 executors × 10 GiB/h × 730 h × $0.02/GiB.
	if c := r.Cost; c.PricePerGiB != 0.02 || c.GiBPerExecutorHour != 10 || c.Assumed.MonthlyGiB != 14600 || math.Abs(c.Assumed.MonthlyUSD-292) > 1e-9 ||
		!strings.Contains(c.Assumed.Assumption, "2 cross-zone executor(s) × 10 GiB per executor-hour × 730 h × $0.02/GiB") || c.Measured != nil {
		t.Errorf("default cost %+v", c)
	}
	if c := auditJSON(t, kubeconfig, "-n", ns, "--price-per-gib", "0.01", "--gib-per-executor-hour", "5").Cost; math.Abs(c.Assumed.MonthlyUSD-73) > 1e-9 {
		t.Errorf("cost at $0.01/GiB and 5 GiB/h: %+v, want $73", c.Assumed)
	}

	// Measured: an event log of the mixed app. Executor 1 (audit-a) and 2
	// (audit-b) wrote 1 GiB of map output each, 3 (audit-b) 2 GiB; 1 read 3
	// GiB, all from audit-b; 2 read 3 GiB, 1 of it (from executor 1) across
	// zones: 4 GiB in the hour the app ran.
	const gib = 1 << 30
	task := func(exec string, read, written int64) string {
		return fmt.Sprintf(`{"Event":"SparkListenerTaskEnd","Task Info":{"Executor ID":%q},"Task Metrics":{"Shuffle Read Metrics":{"Remote Bytes Read":%d},"Shuffle Write Metrics":{"Shuffle Bytes Written":%d}}}`, exec, read, written)
	}
	logFile := filepath.Join(t.TempDir(), spark.AppID(drv))
	log := strings.Join([]string{
		fmt.Sprintf(`{"Event":"SparkListenerApplicationStart","App Name":"mixed","App ID":%q,"Timestamp":1700000000000}`, spark.AppID(drv)),
		task("1", 0, gib), task("2", 0, gib), task("3", 0, 2*gib), task("1", 3*gib, 0), task("2", 3*gib, 0),
		`{"Event":"SparkListenerApplicationEnd","Timestamp":1700003600000}`,
	}, "\n")
	if err := os.WriteFile(logFile, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args          []string
		gib, usd      float64
		extrapolation string
	}{
		{nil, 4 * 730, 4 * 730 * 0.02, "as if each app ran back to back all month"},
		{[]string{"--runs-per-month", "30"}, 4 * 30, 4 * 30 * 0.02, "× 30 runs a month"},
	} {
		c := auditJSON(t, kubeconfig, append([]string{"-n", ns, "--event-log", logFile}, tt.args...)...).Cost
		if c.Measured == nil || math.Abs(c.Measured.MonthlyGiB-tt.gib) > 1e-6 || math.Abs(c.Measured.MonthlyUSD-tt.usd) > 1e-6 ||
			!strings.Contains(c.Measured.Assumption, "4.000 GiB of shuffle fetched across zones in 1 event log(s) over 1h0m0s observed") ||
			!strings.Contains(c.Measured.Assumption, tt.extrapolation) {
			t.Errorf("measured %v: %+v, want %g GiB, $%g, %q", tt.args, c.Measured, tt.gib, tt.usd, tt.extrapolation)
		}
	}

	table, err := runAudit(t, kubeconfig, "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"audit-a/on-demand", "audit-a/spot:1 audit-b/on-demand:1 audit-b/spot:1", "2 of 3", "pending: Unschedulable",
		"Cross-zone driver<->executor pairs (2):", stuck.Name + ": Unschedulable for", "outside their driver's zone  2 of 3 (66.7%) in 1 app(s)", "$292.00/month"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	t.Logf("sparkplane audit -n %s:\n%s", ns, table)

	if _, err := runAudit(t, kubeconfig, "-n", ns, "--fail-on-cross-zone"); err == nil ||
		err.Error() != "2 executor(s) in 1 app(s) run outside their driver's zone (--fail-on-cross-zone)" {
		t.Errorf("--fail-on-cross-zone with cross-zone executors: %v", err)
	}
	out, err := runAudit(t, kubeconfig, "-n", ns2, "--fail-on-cross-zone")
	if err != nil || !strings.Contains(out, "0 of 2 (0.0%)") {
		t.Errorf("--fail-on-cross-zone on the aligned namespace: %v\n%s", err, out)
	}

	// The webhook's gauges come from its informer cache, the audit from
	// lists: once the cache has caught up they agree cluster-wide.
	var gauges map[string]float64
	var all auditReport
	err = wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		gauges = placementGauges(t)
		all = auditJSON(t, kubeconfig, "-A")
		s := all.Summary
		return s.CrossZone >= 2 && s.SameZone >= 3 && s.Pending >= 1 &&
			gauges["cross-zone"] == float64(s.CrossZone) && gauges["same-zone"] == float64(s.SameZone) &&
			gauges["pending"] == float64(s.Pending) && gauges["unknown"] == float64(s.UnknownZone) &&
			gauges["apps"] == float64(s.AppsWithCrossZone), nil
	})
	if err != nil {
		t.Errorf("webhook gauges %v never matched the cluster-wide audit %+v: %v", gauges, all.Summary, err)
	}
}

// placementGauges reads the webhook's placement gauges from its registry.
func placementGauges(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := shared.wh.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "sparkplane_webhook_executors":
			for _, m := range mf.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		case "sparkplane_webhook_cross_zone_apps":
			out["apps"] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return out
}

// On an API server that enforces RBAC, the audit names each permission it
// lacks (list pods in the namespace, then list nodes) and works once both
// are granted; once the server is gone it says it cannot reach it.
func TestAuditAccessErrors(t *testing.T) {
	ctx := context.Background()
	cp, err := controlplane.Start(ctx, controlplane.Options{ExtraAPIServerFlags: []string{"--authorization-mode=Node,RBAC"}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			cp.Stop()
		}
	}()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	const user = "auditor"
	grant := func(role, namespace string, rule rbacv1.PolicyRule) {
		t.Helper()
		rbac := cp.Client.RbacV1()
		subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
		var err error
		if namespace == "" {
			if _, err = rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: []rbacv1.PolicyRule{rule}}, metav1.CreateOptions{}); err == nil {
				_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}, metav1.CreateOptions{})
			}
		} else if _, err = rbac.Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: []rbacv1.PolicyRule{rule}}, metav1.CreateOptions{}); err == nil {
			_, err = rbac.RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role}, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role}}, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("granting %s: %v", role, err)
		}
	}
	// RBAC takes effect through the authorizer's informers: wait for it.
	auditAs := func(want string) {
		t.Helper()
		var err error
		_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			_, err = runAudit(t, kubeconfig, "--as", user, "-n", "default")
			return (want == "" && err == nil) || (want != "" && err != nil && strings.Contains(err.Error(), want)), nil
		})
		if (want == "" && err != nil) || (want != "" && (err == nil || !strings.Contains(err.Error(), want))) {
			t.Fatalf("audit as %s: error %v, want %q", user, err, want)
		}
	}
	auditAs(`listing pods in namespace default is forbidden: sparkplane audit needs RBAC verb "list" on pods in namespace default`)
	grant("audit-pods", "default", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}})
	auditAs(`listing nodes (nodes are cluster-scoped) is forbidden: sparkplane audit needs RBAC verb "list" on nodes`)
	grant("audit-nodes", "", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}})
	auditAs("")

	cp.Stop()
	stopped = true
	if _, err := runAudit(t, kubeconfig, "-n", "default", "--request-timeout", "5s"); err == nil || !strings.Contains(err.Error(), "cannot reach the API server at "+cp.Config.Host) {
		t.Errorf("audit of a stopped cluster: %v, want \"cannot reach the API server at %s\"", err, cp.Config.Host)
	}
}

// runCLI runs a sparkplane command against the shared control plane the
// way the local cluster's ready line says to: KUBECONFIG exported, no
// --kubeconfig flag.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := shared.cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	cmd := cli.NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// `sparkplane queues` and `audit` with KUBECONFIG: queues says why it has
// no rows, then shows a driver of the sparkplane scheduler's profile; the
// audit lists a Succeeded driver's app as finished and names the
// namespace, and tells an executor whose driver pod was deleted from one in
// client mode. (No garbage collector runs here, so a deleted driver's
// executors stay, as they do for a moment, or when orphaned, in a cluster.)
func TestQueuesAndAuditExplainWhatTheyFind(t *testing.T) {
	ctx := context.Background()
	nodes := createNodes(t, perZone([]string{"explain-a"}, "8", "")...)
	var nodeName string
	for n := range nodes {
		nodeName = n
	}
	ns := namespace(t)
	pods := shared.cp.Client.CoreV1().Pods(ns)

	out, _, err := runCLI(t, "queues", "-n", ns)
	if err != nil || !strings.Contains(out, "No queues: no Spark pods (label spark-role=driver|executor) in namespace "+ns) {
		t.Errorf("queues on an empty namespace: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "audit", "-n", ns)
	if err != nil || !strings.Contains(out, "No Spark pods (label spark-role=driver|executor) in namespace "+ns) {
		t.Errorf("audit of an empty namespace: %v\n%s", err, out)
	}

	// A finished app: its driver Succeeded (what the kubelet reports).
	done := createPod(t, sparksim.DriverPod(sparksim.App{Namespace: ns, Name: "done"}), nodeName)
	done.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "queues", "-n", ns)
	if err != nil || !strings.Contains(out, `1 Spark pod(s) in namespace `+ns+`, no driver scheduled by scheduler profile "sparkplane-scheduler"; is the sparkplane scheduler in use`) {
		t.Errorf("queues with only a default-scheduler driver: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "audit", "-n", ns)
	if err != nil || !strings.Contains(out, "No running Spark apps in namespace "+ns+"; 1 finished app(s) (driver Succeeded/Failed) below.") ||
		!strings.Contains(out, done.Name+"  Succeeded") {
		t.Errorf("audit with a Succeeded driver: %v\n%s", err, out)
	}
	r := auditJSON(t, "", "-n", ns)
	if len(r.Apps) != 0 || len(r.FinishedApps) != 1 || r.FinishedApps[0].DriverPod != done.Name || r.FinishedApps[0].Phase != "Succeeded" {
		t.Errorf("audit -o json with a Succeeded driver: apps %+v, finished %+v", r.Apps, r.FinishedApps)
	}

	// An executor whose driver pod is deleted, and one of a client-mode app
	// (no driver, no ownerReference).
	orphanApp := sparksim.App{Namespace: ns, Name: "orphan"}
	drv := createPod(t, sparksim.DriverPod(orphanApp), nodeName)
	createPod(t, sparksim.ExecutorPod(orphanApp, drv, 1), nodeName)
	if err := pods.Delete(ctx, drv.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	client := sparksim.ExecutorPod(sparksim.App{Namespace: ns, Name: "client"}, drv, 1)
	client.OwnerReferences = nil
	createPod(t, client, nodeName)
	r = auditJSON(t, "", "-n", ns)
	gone := map[string]string{}
	for _, a := range r.Apps {
		if a.Driver != nil || a.DriverGone == nil {
			t.Errorf("app %s: driver %+v, driverGone %+v; want no driver, and why", a.Name, a.Driver, a.DriverGone)
			continue
		}
		gone[a.Name] = a.DriverGone.Reason + " " + a.DriverGone.Pod
	}
	if want := map[string]string{"orphan": "not-found " + drv.Name, "client": "client-mode "}; fmt.Sprint(gone) != fmt.Sprint(want) {
		t.Errorf("driverGone by app %v, want %v", gone, want)
	}
	out, _, err = runCLI(t, "audit", "-n", ns)
	if err != nil || !strings.Contains(out, "driver pod deleted ("+drv.Name+" not found)") || !strings.Contains(out, "no driver pod (client mode)") ||
		strings.Contains(out, "client mode?") {
		t.Errorf("audit table: %v\n%s", err, out)
	}

	// A driver of the sparkplane scheduler's profile (no such scheduler runs
	// here, so it waits): queues shows its queue.
	waiting := sparksim.DriverPod(sparksim.App{Namespace: ns, Name: "queued"})
	waiting.Spec.SchedulerName = "sparkplane-scheduler"
	createPod(t, waiting, "")
	out, _, err = runCLI(t, "queues", "-n", ns)
	if err != nil || !strings.Contains(out, "QUEUE") || !strings.Contains(out, ns+"  0        1") || strings.Contains(out, "No queues") {
		t.Errorf("queues with a waiting sparkplane-scheduler driver: %v\n%s", err, out)
	}
}
