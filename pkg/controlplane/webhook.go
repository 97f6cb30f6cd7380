package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

const (
	// SparkRoleLabel selects the pods sent to the webhook registered by
	// RegisterMutatingWebhook.
	SparkRoleLabel = "spark-role"
	// SparkAppSelectorLabel is set on the probe pod of WaitForWebhook.
	SparkAppSelectorLabel = "spark-app-selector"

	webhookPollInterval = 200 * time.Millisecond
)

// webhookName derives the name of the webhook inside the configuration,
// which must be a fully qualified name with at least three segments.
func webhookName(name string) string {
	if strings.Count(name, ".") >= 2 {
		return name
	}
	return name + ".webhook.sparkplane.io"
}

// WebhookRegistration says how to register a mutating webhook for Spark
// pods: CREATEs of pods carrying the label key spark-role (objectSelector:
// Exists) go to URL, trusting CABundle; sideEffects None, reinvocationPolicy
// IfNeeded, matchPolicy Equivalent, admissionReviewVersions v1.
type WebhookRegistration struct {
	// Name of the MutatingWebhookConfiguration.
	Name string
	// WebhookName is the webhook's name inside it (a fully qualified name);
	// derived from Name when empty.
	WebhookName string
	URL         string
	CABundle    []byte
	// FailurePolicy defaults to Fail (tests must see a webhook that does
	// not answer); the Helm chart and the local cluster use Ignore.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds defaults to 10.
	TimeoutSeconds int32
	// ExcludeNamespaces are never sent to the webhook (namespaceSelector on
	// kubernetes.io/metadata.name).
	ExcludeNamespaces []string
	// Labels of the configuration.
	Labels map[string]string
}

// ApplyMutatingWebhook creates or updates the MutatingWebhookConfiguration
// r describes.
func (cp *ControlPlane) ApplyMutatingWebhook(ctx context.Context, r WebhookRegistration) error {
	if r.WebhookName == "" {
		r.WebhookName = webhookName(r.Name)
	}
	if r.FailurePolicy == "" {
		r.FailurePolicy = admissionregistrationv1.Fail
	}
	if r.TimeoutSeconds == 0 {
		r.TimeoutSeconds = 10
	}
	hook := admissionregistrationv1.MutatingWebhook{
		Name:         r.WebhookName,
		ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(r.URL), CABundle: r.CABundle},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}},
		// Only Spark pods are sent to the webhook at all.
		ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: SparkRoleLabel, Operator: metav1.LabelSelectorOpExists,
		}}},
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		FailurePolicy:           ptr.To(r.FailurePolicy),
		TimeoutSeconds:          ptr.To(r.TimeoutSeconds),
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		AdmissionReviewVersions: []string{"v1"},
	}
	if len(r.ExcludeNamespaces) > 0 {
		hook.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: r.ExcludeNamespaces,
		}}}
	}
	want := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Labels: r.Labels},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{hook},
	}
	configs := cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	existing, err := configs.Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := configs.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating MutatingWebhookConfiguration %q: %w", r.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("getting MutatingWebhookConfiguration %q: %w", r.Name, err)
	}
	existing.Webhooks = want.Webhooks
	if _, err := configs.Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating MutatingWebhookConfiguration %q: %w", r.Name, err)
	}
	return nil
}

// RegisterMutatingWebhook is ApplyMutatingWebhook with the defaults
// (failurePolicy Fail, timeout 10 s) for the webhook at url.
func (cp *ControlPlane) RegisterMutatingWebhook(ctx context.Context, name, url string, caBundle []byte) error {
	return cp.ApplyMutatingWebhook(ctx, WebhookRegistration{Name: name, URL: url, CABundle: caBundle})
}

// webhookProbePod is dry-run created by WaitForWebhook.
func webhookProbePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "sparkplane-webhook-probe-",
			Namespace:    metav1.NamespaceDefault,
			Labels: map[string]string{
				SparkRoleLabel:        "driver",
				SparkAppSelectorLabel: "probe",
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
}

// WaitForWebhook polls a server-side dry-run create of a probe pod (labels
// spark-role=driver, spark-app-selector=probe, namespace "default") until
// check returns true for the returned pod, i.e. the webhook's mutation is
// visible, or ctx ends. Webhook configuration changes reach the apiserver's
// admission chain asynchronously, so this is needed after
// RegisterMutatingWebhook before relying on the webhook.
func (cp *ControlPlane) WaitForWebhook(ctx context.Context, check func(*corev1.Pod) bool) error {
	if check == nil {
		return errors.New("waiting for webhook: nil check")
	}
	pods := cp.Client.CoreV1().Pods(metav1.NamespaceDefault)
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, webhookPollInterval, true, func(ctx context.Context) (bool, error) {
		pod, err := pods.Create(ctx, webhookProbePod(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			lastErr = err
			return false, nil
		}
		lastErr = errors.New("probe pod not mutated")
		return check(pod), nil
	})
	if err != nil {
		if lastErr != nil {
			return fmt.Errorf("waiting for webhook: %w (last attempt: %v)", err, lastErr)
		}
		return fmt.Errorf("waiting for webhook: %w", err)
	}
	return nil
}
