package deploy

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
	"github.com/sparkplane/sparkplane/pkg/webhook"
	"github.com/sparkplane/sparkplane/test/testkit"
)

// chartWebhook is the real webhook run with a release's rendered
// Deployment args and ConfigMap, as its ServiceAccount.
type chartWebhook struct {
	cmd  *command
	base string // https://127.0.0.1:<port>
	ca   []byte
	user string
}

// startChartWebhook runs `sparkplane <the rendered webhook args>` with only
// the file paths (config, TLS: a certificate for 127.0.0.1) and the port
// replaced, plus a kubeconfig impersonating the rendered ServiceAccount and
// a loopback bind address. editConfig may change the rendered
// configuration; extra args are appended.
func startChartWebhook(t *testing.T, r *release, editConfig func(map[string]any), extra ...string) *chartWebhook {
	t.Helper()
	dep := r.deployment(t, "webhook")
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("webhook pod has %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	cm := typed[corev1.ConfigMap](t, r.get(t, "ConfigMap", r.fullname()+"-config"))
	config := cm.Data["config.yaml"]
	if editConfig != nil {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(config), &m); err != nil {
			t.Fatal(err)
		}
		editConfig(m)
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		config = string(out)
	}
	certFile, keyFile, ca, err := webhook.WriteSelfSignedCert(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	args := replaceArgs(t, dep.Spec.Template.Spec.Containers[0].Args, map[string]string{
		"--config": writeFile(t, "config.yaml", config), "--tls-cert-file": certFile, "--tls-private-key-file": keyFile, "--secure-port": itoa(port),
	})
	user := r.serviceAccountUser(t, "webhook")
	waitForBinding(t, user, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"})
	args = append(append(args, "--kubeconfig="+kubeconfigAs(t, user), "--bind-address=127.0.0.1"), extra...)
	return &chartWebhook{cmd: runCommand(t, args), base: "https://127.0.0.1:" + itoa(port), ca: ca, user: user}
}

// waitReady waits for /readyz to answer 200 (informer caches synced).
func (w *chartWebhook) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, "webhook /readyz 200", func() bool {
		if done, err := w.cmd.exited(); done {
			t.Fatalf("webhook exited: %v\n%s", err, w.cmd.out.String())
		}
		code, _, _, err := testkit.HTTPSGet(w.base+webhook.PathReadyz, testkit.CertPool(t, w.ca), "")
		return err == nil && code == http.StatusOK
	})
}

// waitForBinding waits until the API server's RBAC authorizer grants user
// the access, i.e. the applied binding has reached its cache.
func waitForBinding(t *testing.T, user string, attr authorizationv1.ResourceAttributes) {
	t.Helper()
	c := clientAs(t, user)
	eventually(t, user+" granted "+attr.Verb+" "+attr.Resource, func() bool {
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(),
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed
	})
}

// waitMutating waits until a dry-run create of a driver in namespace
// comes back decided: the webhook configuration has reached the API
// server's admission chain.
func waitMutating(t *testing.T, namespace string) {
	t.Helper()
	probe := sparksim.DriverPod(sparksim.App{Namespace: namespace, Name: "probe"})
	eventually(t, "the webhook to mutate Spark pods in "+namespace, func() bool {
		p, err := shared.cp.Client.CoreV1().Pods(namespace).Create(context.Background(), probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && p.Annotations[placement.AnnotationDecision] != ""
	})
}

// TestWebhookFromChart runs the webhook exactly as the default chart
// configures it, with the chart's RBAC, registered with the rendered
// webhook configuration (only clientConfig pointed at it): an executor is
// pinned to its driver's zone, a pod without spark-role is untouched.
func TestWebhookFromChart(t *testing.T) {
	ctx := context.Background()
	r := render(t, "sparkplane", "sparkplane-system")
	r.apply(t)
	if got := r.serviceAccountUser(t, "webhook"); got != "system:serviceaccount:sparkplane-system:sparkplane-webhook" {
		t.Fatalf("webhook runs as %s", got)
	}
	w := startChartWebhook(t, r, nil)
	w.waitReady(t)
	registerLoopback(t, r, w.base, w.ca)

	ns := shared.cp.Namespace(t)
	nodes := createNodes(t, "on-demand", "zone-a", "zone-b")
	waitMutating(t, ns)

	app := sparksim.App{Namespace: ns, Name: "etl"}
	driver, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, sparksim.DriverPod(app), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasRequirement(driver, "karpenter.sh/capacity-type", "on-demand") {
		t.Errorf("driver not steered to on-demand capacity: %s", driver.Annotations[placement.AnnotationDecision])
	}
	bind(t, ns, driver.Name, nodes["zone-b"])
	exec, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, sparksim.ExecutorPod(app, driver, 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if exec.Spec.NodeSelector[corev1.LabelTopologyZone] != "zone-b" {
		t.Errorf("executor not pinned to its driver's zone zone-b: nodeSelector %v, decision %q", exec.Spec.NodeSelector, exec.Annotations[placement.AnnotationDecision])
	}

	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
	got, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, plain, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// (The API server itself adds the not-ready/unreachable tolerations.)
	tolerations := slices.DeleteFunc(got.Spec.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Key == corev1.TaintNodeNotReady || tol.Key == corev1.TaintNodeUnreachable
	})
	if got.Spec.Affinity != nil || len(got.Annotations) != 0 || len(tolerations) != 0 || got.Spec.SchedulerName != corev1.DefaultSchedulerName {
		t.Errorf("a pod without spark-role was changed: affinity %+v annotations %v tolerations %v", got.Spec.Affinity, got.Annotations, tolerations)
	}

	// Metrics are served on the same HTTPS port, as the pod annotations say.
	code, body, _, err := testkit.HTTPSGet(w.base+"/metrics", testkit.CertPool(t, w.ca), "")
	if err != nil || code != http.StatusOK || !strings.Contains(body, "sparkplane_webhook_") {
		t.Errorf("/metrics: %d %v", code, err)
	}
	dep := r.deployment(t, "webhook")
	if dep.Spec.Template.Annotations["prometheus.io/path"] != "/metrics" || dep.Spec.Template.Annotations["prometheus.io/scheme"] != "https" {
		t.Errorf("scrape annotations %v", dep.Spec.Template.Annotations)
	}
}

// TestWebhookNamespaces: with webhook.namespaces set, Spark pods elsewhere
// are never sent to the webhook.
func TestWebhookNamespaces(t *testing.T) {
	ctx := context.Background()
	selected, other := shared.cp.Namespace(t), shared.cp.Namespace(t)
	r := render(t, "sparkplane-ns", "sparkplane-ns", "--set", "webhook.namespaces={"+selected+"}")
	r.apply(t)
	w := startChartWebhook(t, r, nil)
	w.waitReady(t)
	registerLoopback(t, r, w.base, w.ca)
	waitMutating(t, selected)

	p, err := shared.cp.Client.CoreV1().Pods(other).Create(ctx, sparksim.DriverPod(sparksim.App{Namespace: other, Name: "elsewhere"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Annotations[placement.AnnotationDecision]; d != "" || p.Spec.Affinity != nil {
		t.Errorf("driver in an unselected namespace was mutated: %q", d)
	}
}

// TestEscapeWithChartRBAC: with availabilityEscape on, the chart grants
// what the escape needs, and it works as the webhook's ServiceAccount: a
// stuck executor is deleted, its driver marked, an event recorded.
func TestEscapeWithChartRBAC(t *testing.T) {
	ctx := context.Background()
	r := render(t, "sparkplane-escape", "sparkplane-escape",
		"--set", "config.availabilityEscape.enabled=true,config.availabilityEscape.window=2s,config.availabilityEscape.interval=500ms")
	r.apply(t)
	w := startChartWebhook(t, r, nil)
	w.waitReady(t)
	registerLoopback(t, r, w.base, w.ca)

	ns := shared.cp.Namespace(t)
	nodes := createNodes(t, "on-demand", "zone-a")
	waitMutating(t, ns)
	app := sparksim.App{Namespace: ns, Name: "stuck"}
	driver, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, sparksim.DriverPod(app), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, ns, driver.Name, nodes["zone-a"])
	exec, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, sparksim.ExecutorPod(app, driver, 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if exec.Annotations[placement.AnnotationZoneMode] != string(placement.ZoneRequired) {
		t.Fatalf("executor zone mode %q, want required", exec.Annotations[placement.AnnotationZoneMode])
	}
	// What the scheduler reports when the zone has no room.
	exec.Status.Phase = corev1.PodPending
	exec.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, LastTransitionTime: metav1.Now()}}
	if _, err := shared.cp.Client.CoreV1().Pods(ns).UpdateStatus(ctx, exec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the escape to delete the stuck executor", func() bool {
		_, err := shared.cp.Client.CoreV1().Pods(ns).Get(ctx, exec.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	d, err := shared.cp.Client.CoreV1().Pods(ns).Get(ctx, driver.Name, metav1.GetOptions{})
	if err != nil || d.Annotations[placement.AnnotationZoneFallback] == "" {
		t.Errorf("driver not marked with %s: %v %v", placement.AnnotationZoneFallback, d.Annotations, err)
	}
	eventually(t, "a ZoneFallback event", func() bool {
		evs, err := shared.cp.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=ZoneFallback"})
		return err == nil && len(evs.Items) > 0
	})
}

// TestMissingPermissionsFailLoudly: the webhook run as a ServiceAccount that
// lacks a permission its configuration needs exits at start-up naming each
// missing permission and the fix; skipping the check, it logs the
// forbidden list with the fix and never reports ready.
func TestMissingPermissionsFailLoudly(t *testing.T) {
	enableEscape := func(m map[string]any) { m["availabilityEscape"].(map[string]any)["enabled"] = true }

	t.Run("escape on in the config, chart rendered without it", func(t *testing.T) {
		r := render(t, "sparkplane-noescape", "sparkplane-noescape")
		r.apply(t)
		err := startChartWebhook(t, r, enableEscape).cmd.exitErr(t)
		checkPermissionError(t, err, []string{"patch pods (cluster-wide)", "delete pods (cluster-wide)", "availabilityEscape.enabled=true", "ClusterRole sparkplane-noescape-webhook"},
			[]string{"list pods", "create events"})
	})

	without := func(t *testing.T, name, resource string) *release {
		r := render(t, name, name)
		role := r.get(t, "ClusterRole", name+"-webhook")
		cr := typed[rbacv1.ClusterRole](t, role)
		cr.Rules = slices.DeleteFunc(cr.Rules, func(rule rbacv1.PolicyRule) bool { return slices.Contains(rule.Resources, resource) })
		edited, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cr)
		if err != nil {
			t.Fatal(err)
		}
		role.Object = edited
		for i, o := range r.objs {
			if o.GetKind() == "ClusterRole" && o.GetName() == role.GetName() {
				r.objs[i] = role
			}
		}
		r.apply(t)
		return r
	}

	t.Run("nodes rule removed", func(t *testing.T) {
		r := without(t, "sparkplane-nonodes", "nodes")
		err := startChartWebhook(t, r, nil).cmd.exitErr(t)
		checkPermissionError(t, err, []string{"system:serviceaccount:sparkplane-nonodes:sparkplane-nonodes-webhook lacks 2",
			"list nodes (cluster-wide)", "watch nodes (cluster-wide)", "ClusterRole sparkplane-nonodes-webhook"}, []string{"pods"})
	})

	// Events are needed whether or not the escape is on: the webhook
	// reports invalid annotations and withheld patches with them.
	t.Run("events rules removed", func(t *testing.T) {
		r := without(t, "sparkplane-noevents", "events")
		err := startChartWebhook(t, r, nil).cmd.exitErr(t)
		checkPermissionError(t, err, []string{"system:serviceaccount:sparkplane-noevents:sparkplane-noevents-webhook lacks 2",
			"create events (cluster-wide), for InvalidAnnotation and InvalidPatch events", "patch events (cluster-wide)", "ClusterRole sparkplane-noevents-webhook"},
			[]string{"list pods", "list nodes"})
	})

	t.Run("nodes rule removed, check skipped", func(t *testing.T) {
		r := without(t, "sparkplane-skipcheck", "nodes")
		w := startChartWebhook(t, r, nil, "--skip-permission-check")
		eventually(t, "a log line naming the forbidden nodes list and the fix", func() bool {
			return shared.logs.contains("may not list or watch nodes", "grant list and watch on nodes", w.user)
		})
		code, body, _, err := testkit.HTTPSGet(w.base+webhook.PathReadyz, testkit.CertPool(t, w.ca), "")
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("/readyz with the node cache forbidden: %d %q %v, want 503", code, body, err)
		}
	})
}

func checkPermissionError(t *testing.T, err error, want, notWant []string) {
	t.Helper()
	if err == nil {
		t.Fatal("the webhook started although its ServiceAccount lacks a permission its configuration needs")
	}
	for _, s := range append(want, "lacks", "SelfSubjectAccessReview", "--skip-permission-check") {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q:\n%v", s, err)
		}
	}
	for _, s := range notWant {
		if strings.Contains(err.Error(), "- "+s) {
			t.Errorf("error names %q, which the chart grants:\n%v", s, err)
		}
	}
	t.Logf("start-up error, as the operator sees it:\n%v", err)
}

// hasRequirement reports whether every required node selector term of the
// pod requires key In [value].
func hasRequirement(p *corev1.Pod, key, value string) bool {
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil || p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, term := range terms {
		found := false
		for _, req := range term.MatchExpressions {
			found = found || req.Key == key && req.Operator == corev1.NodeSelectorOpIn && slices.Equal(req.Values, []string{value})
		}
		if !found {
			return false
		}
	}
	return len(terms) > 0
}
