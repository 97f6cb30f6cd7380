package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

// warnings collects the admission warnings the API server returns.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

// startBogusWebhook runs a second, real webhook whose configuration writes a
// toleration the API server rejects, registered for ns only (failurePolicy
// Fail, so nothing but the webhook itself can save the pod). Validation at
// webhook.New is passed with a valid configuration and the toleration is
// written into it afterwards, as a configuration that validation wrongly
// accepts would be: the webhook's own safety net is what is tested.
func startBogusWebhook(t *testing.T, ns string) *webhook.Webhook {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := v1alpha1.Default()
	wh, url, ca, err := webhook.NewLocal(webhook.Options{Config: cfg, RestConfig: shared.cp.Config, Log: klog.NewKlogr().WithName("bogus-webhook")}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Provider.SpotTolerations = []corev1.Toleration{{Key: "", Operator: "Bogus", Effect: "Sometimes"}}
	done := make(chan error, 1)
	go func() { done <- wh.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if !wh.Cache.WaitForSync(ctx) {
		t.Fatal("bogus webhook's caches never synced")
	}
	name := "sparkplane-bogus-" + ns
	reg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "bogus.sparkplane.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			ObjectSelector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "spark-role", Operator: metav1.LabelSelectorOpExists}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](10),
		}},
	}
	configs := shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := configs.Create(ctx, reg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = configs.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return wh
}

// Issue 11, item 2: a configuration that makes sparkplane's patch invalid
// must not make Spark pods unadmittable. The executor is created, unchanged
// by that webhook, with an admission warning, a metric and an event on it.
func TestPatchThatWouldInvalidateThePodIsWithheld(t *testing.T) {
	ns := namespace(t)
	bogus := startBogusWebhook(t, ns)
	withheld := bogus.Metrics.InvalidPatches.WithLabelValues("executor")
	app := sparksim.App{Namespace: ns, Name: "bogus", ExecutorCPU: "500m"}

	// Wait until the API server calls the new webhook (registration is asynchronous).
	probe := sparksim.ExecutorPod(app, nil, 99)
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		before := testutil.ToFloat64(withheld)
		_, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && testutil.ToFloat64(withheld) > before, err
	})
	if err != nil {
		t.Fatalf("the bogus webhook never withheld a patch for a dry-run executor: %v", err)
	}

	warn := &warnings{}
	cfg := rest.CopyConfig(shared.cp.Config)
	cfg.WarningHandler = warn
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := testutil.ToFloat64(withheld)
	exec, err := client.CoreV1().Pods(ns).Create(context.Background(), sparksim.ExecutorPod(app, nil, 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("executor not admitted: %v", err)
	}
	for _, tol := range exec.Spec.Tolerations {
		if tol.Operator == "Bogus" {
			t.Errorf("the bogus toleration reached the pod: %+v", exec.Spec.Tolerations)
		}
	}
	// The valid webhook's placement is untouched by the other's failure.
	if exec.Annotations[placement.AnnotationDecision] == "" {
		t.Errorf("executor lost the shared webhook's decision: %v", exec.Annotations)
	}
	if w := warn.all(); !strings.Contains(w, "sparkplane: pod admitted without placement: the webhook's patch would make it invalid") ||
		!strings.Contains(w, `].operator: Unsupported value: "Bogus"`) {
		t.Errorf("admission warnings %q", w)
	}
	if n := testutil.ToFloat64(withheld) - before; n < 1 {
		t.Errorf("sparkplane_webhook_invalid_patches_total{role=executor} rose by %v, want >= 1", n)
	}
	ev := waitEvent(t, ns, webhook.ReasonInvalidPatch, exec.UID)
	if !strings.Contains(ev.Message, `Unsupported value: "Bogus"`) || ev.Type != corev1.EventTypeWarning || ev.Source.Component != "sparkplane-webhook" {
		t.Errorf("InvalidPatch event: %s %q from %q", ev.Type, ev.Message, ev.Source.Component)
	}
	t.Logf("admission warning: %s", warn.all())
}

// Issue 11, item 8: an invalid executor annotation is visible where users
// look: an event on the executor and on its driver (kubectl describe finds
// them by UID), and the executor's decision annotation.
func TestInvalidExecutorAnnotationIsVisible(t *testing.T) {
	ns := namespace(t)
	createNodes(t, perZone(zones3, "8", "16")...)
	d := startApp(t, sparksim.App{Namespace: ns, Name: "cheap", Executors: 2, BatchDelay: 200 * time.Millisecond, ExecutorCPU: "500m",
		ExecutorTemplate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{placement.AnnotationExecutorCapacity: "cheap"}
		}})
	execs := waitExecutors(t, d, 2, time.Minute)
	drv := getPod(t, ns, d.Pod.Name)
	const invalid = `annotation sparkplane.io/executor-capacity-type="cheap" is not valid: allowed values are on-demand, spot, prefer-on-demand, prefer-spot, any`
	for _, e := range execs {
		if why := e.Annotations[placement.AnnotationDecision]; !strings.Contains(why, "ignored: "+invalid) {
			t.Errorf("executor %s decision %q does not name the invalid annotation", e.Name, why)
		}
		ev := waitEvent(t, ns, webhook.ReasonInvalidAnnotation, e.UID)
		if !strings.HasPrefix(ev.Message, invalid) || ev.InvolvedObject.Name != e.Name {
			t.Errorf("executor %s event on %s: %q", e.Name, ev.InvolvedObject.Name, ev.Message)
		}
	}
	ev := waitEvent(t, ns, webhook.ReasonInvalidAnnotation, drv.UID)
	if !strings.Contains(ev.Message, invalid) || !strings.HasPrefix(ev.Message, "executor ") {
		t.Errorf("driver event %q", ev.Message)
	}
	t.Logf("driver event: %s", ev.Message)
}

// waitEvent waits for an event of reason on the object with uid.
func waitEvent(t *testing.T, ns, reason string, uid types.UID) corev1.Event {
	t.Helper()
	var found *corev1.Event
	var seen []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := shared.cp.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + reason + ",involvedObject.uid=" + string(uid)})
		if err != nil {
			return false, err
		}
		if len(evs.Items) > 0 {
			found = &evs.Items[0]
			return true, nil
		}
		all, _ := shared.cp.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		seen = seen[:0]
		for _, e := range all.Items {
			seen = append(seen, e.Reason+" on "+e.InvolvedObject.Name+" ("+string(e.InvolvedObject.UID)+")")
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s event on uid %s: %v; events in %s: %q", reason, uid, err, ns, seen)
	}
	return *found
}
