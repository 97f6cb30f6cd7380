package scheduler_test

import (
	"context"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

// TestExecutorRuleAsTheWebhookDecides runs the webhook beside the sparkplane
// scheduler. Zone-a has on-demand room for the two 1-cpu drivers and never
// for a 2-cpu executor; zone-b has spot room. Each gang is the driver alone
// (dynamic allocation without a minimum), so both drivers go to zone-a. Their
// executors are left unpinned by the webhook, one app's by the override
// spark.kubernetes.executor.annotation.sparkplane.io/zone-pinning=off, the
// other's by a pod template that selects zone-b: the scheduler must let
// them bind in zone-b rather than hold them to their driver's zone.
func TestExecutorRuleAsTheWebhookDecides(t *testing.T) {
	ns := namespace(t)
	createNodes(t, ns,
		node{name: "a-od", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "2"},
		node{name: "b-spot", zone: "zone-b", capacity: v1alpha1.CapacitySpot, cpu: "8"})
	startWebhook(t, ns)
	startScheduler(t, nil)
	rec := record(t, ns)

	dynamic := map[string]string{
		"spark.dynamicAllocation.enabled":                 "true",
		"spark.dynamicAllocation.minExecutors":            "0",
		"spark.dynamicAllocation.shuffleTracking.enabled": "true",
	}
	off := sparkApp(ns, "pin-off", 2, time.Second)
	off.Properties, off.ExecutorCPU = dynamic, "2"
	off.ExecutorTemplate = func(p *corev1.Pod) {
		p.Annotations = map[string]string{placement.AnnotationZonePinning: "off"}
	}
	tmpl := sparkApp(ns, "template", 2, time.Second)
	tmpl.Properties, tmpl.ExecutorCPU = dynamic, "2"
	tmpl.ExecutorTemplate = func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "zone-b"}
	}
	apps := []*sparksim.Driver{submit(t, off), submit(t, tmpl)}
	waitDone(t, rec, 30*time.Second, apps...)

	for _, d := range apps {
		if got, want := rec.nodeOf(d.App.DriverName()), ns+"-a-od"; got != want {
			t.Errorf("driver of %s on %q, want %q", d.App.Name, got, want)
		}
		execs := rec.executors(d.App)
		if len(execs) != 2 {
			t.Errorf("%s: %d executors, want 2\n%s", d.App.Name, len(execs), rec.dump())
		}
		for _, e := range execs {
			if got, want := rec.nodeOf(e), ns+"-b-spot"; got != want {
				t.Errorf("executor %s on %q, want %q (zone-b: zone-a is full)", e, got, want)
			}
			if mode := rec.pod(e).Annotations[placement.AnnotationZoneMode]; mode != string(placement.ZoneOff) && mode != string(placement.ZoneUserConstraint) {
				t.Errorf("executor %s: the webhook decided zone mode %q, want off or user-constraint", e, mode)
			}
		}
	}
}

// startWebhook runs the sparkplane webhook (default configuration) for
// namespace ns only, so that the package's other tests keep their pods as
// created, and waits until the API server calls it for ns.
func startWebhook(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wh, url, ca, err := webhook.NewLocal(webhook.Options{Config: v1alpha1.Default(), RestConfig: shared.cp.Config, Log: klog.Background().WithName("webhook")}, t.TempDir())
	if err != nil {
		cancel()
		t.Fatalf("building the webhook: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- wh.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook: %v", err)
		}
	})

	hooks := shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	conf := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "sparkplane-" + ns},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "executor-rule.webhook.sparkplane.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url), CABundle: ca},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			ObjectSelector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "spark-role", Operator: metav1.LabelSelectorOpExists}}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := hooks.Create(context.Background(), conf, metav1.CreateOptions{}); err != nil {
		t.Fatalf("registering the webhook: %v", err)
	}
	t.Cleanup(func() { _ = hooks.Delete(context.Background(), conf.Name, metav1.DeleteOptions{}) })

	// Registrations reach the API server's admission chain asynchronously.
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "webhook-probe-", Namespace: ns, Labels: map[string]string{"spark-role": "driver", "spark-app-selector": "probe"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}}},
	}
	start := time.Now()
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && p.Annotations[placement.AnnotationDecision] != "", nil
	})
	if err != nil {
		t.Fatalf("the API server never called the webhook for namespace %s: %v", ns, err)
	}
	t.Logf("webhook active for namespace %s in %s", ns, time.Since(start).Round(time.Millisecond))
}
