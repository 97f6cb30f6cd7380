package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

// extraWebhook registers one more webhook entry pointing at the same server,
// for the life of the test, and waits until the API server calls it.
func extraWebhook(t *testing.T, name string, objectSelector *metav1.LabelSelector, nsLabel string) {
	t.Helper()
	ctx := context.Background()
	url := shared.url
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    name + ".sparkplane.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: shared.caBundle},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			ObjectSelector:          objectSelector,
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"sparkplane-test": nsLabel}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](10),
		}},
	}
	if _, err := shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// waitCalls dry-run creates probe in ns until one creation raises the
// webhook's admissions{role,outcome} counter by want: then every webhook
// entry expected to see the pod is active.
func waitCalls(t *testing.T, ns string, probe *corev1.Pod, role, outcome string, want float64) {
	t.Helper()
	counter := shared.wh.Metrics.Admissions.WithLabelValues(role, outcome)
	deadline := time.Now().Add(30 * time.Second)
	for {
		before := testutil.ToFloat64(counter)
		if _, err := shared.cp.Client.CoreV1().Pods(ns).Create(context.Background(), probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatal(err)
		}
		if testutil.ToFloat64(counter)-before == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook entries for %s pods in %s not active after 30s", role, ns)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func labelNamespace(t *testing.T, ns, value string) {
	t.Helper()
	patch := []byte(`{"metadata":{"labels":{"sparkplane-test":"` + value + `"}}}`)
	if _, err := shared.cp.Client.CoreV1().Namespaces().Patch(context.Background(), ns, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A non-Spark pod comes out of the API server exactly as it comes out
// without sparkplane, even through a webhook entry that has no objectSelector
// (so the handler itself, not only the selector, leaves it alone).
func TestNonSparkPodsAreByteIdentical(t *testing.T) {
	through, without := namespace(t), namespace(t)
	labelNamespace(t, through, "all")
	extraWebhook(t, "sparkplane-all-pods", nil, "all")
	ctx := context.Background()

	pods := []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}},
				Affinity:    &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 5, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "k", Operator: corev1.NodeSelectorOpExists}}}}}}},
				Tolerations: []corev1.Toleration{{Key: "x", Operator: corev1.TolerationOpExists}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "history", Labels: map[string]string{"spark-role": "history-server", "spark-app-selector": "x"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "spark"}}}},
	}
	waitCalls(t, through, pods[0], "other", "unchanged", 1)
	for _, p := range pods {
		var got, want *corev1.Pod
		var err error
		if got, err = shared.cp.Client.CoreV1().Pods(through).Create(ctx, p.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatal(err)
		}
		if want, err = shared.cp.Client.CoreV1().Pods(without).Create(ctx, p.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatal(err)
		}
		if a, b := comparable(t, got), comparable(t, want); a != b {
			t.Errorf("pod %s differs through the webhook:\n%s\nwithout:\n%s", p.Name, a, b)
		}
	}
	// And the webhook did see them: a direct AdmissionReview gets no patch.
	body, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
		"uid": "1", "kind": map[string]string{"version": "v1", "kind": "Pod"}, "operation": "CREATE", "namespace": through, "object": pods[0],
	}})
	resp := postHTTPS(t, shared.url, body)
	if !strings.Contains(resp, `"allowed":true`) || strings.Contains(resp, `"patch"`) {
		t.Errorf("direct review of a non-Spark pod: %s", resp)
	}
}

// comparable is the pod as stored, minus what differs per object.
func comparable(t *testing.T, p *corev1.Pod) string {
	t.Helper()
	p = p.DeepCopy()
	p.Namespace, p.UID, p.ResourceVersion, p.CreationTimestamp, p.ManagedFields = "", "", "", metav1.Time{}, nil
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Applied twice (two webhook entries, reinvocation), the result is the same
// as applied once: no duplicated terms or tolerations.
func TestAppliedTwiceIsTheSame(t *testing.T) {
	ns := namespace(t)
	labelNamespace(t, ns, "twice")
	extraWebhook(t, "sparkplane-second", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "spark-role", Operator: metav1.LabelSelectorOpExists}}}, "twice")
	waitCalls(t, ns, sparksim.DriverPod(sparksim.App{Namespace: ns, Name: "probe"}), "driver", "unchanged", 1)
	nodes := createNodes(t, perZone(zones3, "8", "16")...)
	d := startApp(t, sparksim.App{Namespace: ns, Name: "twice", Executors: 2, BatchDelay: 200 * time.Millisecond, ExecutorCPU: "500m"})
	zone := nodes[getPod(t, ns, d.Pod.Name).Spec.NodeName].zone
	for _, e := range waitExecutors(t, d, 2, time.Minute) {
		na := e.Spec.Affinity.NodeAffinity
		if e.Spec.NodeSelector[corev1.LabelTopologyZone] != zone || len(e.Spec.NodeSelector) != 1 ||
			na.RequiredDuringSchedulingIgnoredDuringExecution != nil || len(na.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
			t.Errorf("executor %s after two webhooks: nodeSelector %v affinity %+v", e.Name, e.Spec.NodeSelector, na)
		}
	}
	drv := getPod(t, ns, d.Pod.Name)
	if terms := drv.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms; len(terms) != 1 || len(terms[0].MatchExpressions) != 1 {
		t.Errorf("driver affinity after two webhooks: %+v", terms)
	}
}

func postHTTPS(t *testing.T, url string, body []byte) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(shared.caBundle)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	if body == nil {
		resp, err = c.Get(url)
	} else {
		resp, err = c.Post(url, "application/json", strings.NewReader(string(body)))
	}
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// Health, readiness and metrics are served on the secure port.
func TestServedEndpoints(t *testing.T) {
	base := strings.TrimSuffix(shared.url, "/mutate-pods")
	if got := postHTTPS(t, base+"/healthz", nil); got != "ok" {
		t.Errorf("healthz %q", got)
	}
	if got := postHTTPS(t, base+"/readyz", nil); got != "ok" {
		t.Errorf("readyz %q", got)
	}
	metrics := postHTTPS(t, base+"/metrics", nil)
	for _, want := range []string{
		`sparkplane_webhook_admissions_total{outcome="mutated",role="driver"}`,
		"sparkplane_webhook_decision_duration_seconds_bucket",
		"sparkplane_webhook_cache_last_event_age_seconds",
		"sparkplane_kube_api_requests_total",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
