package localcluster

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// The registration matches the Helm chart's (deploy/helm/sparkplane,
// release "sparkplane", default values), so what is tried locally is what
// gets installed: the same names, failurePolicy Ignore (an unavailable
// webhook admits Spark pods unplaced rather than blocking them), the same
// rules, selectors and reinvocation.
const (
	// WebhookConfigurationName is the MutatingWebhookConfiguration.
	WebhookConfigurationName = "sparkplane"
	// WebhookName is the webhook inside it.
	WebhookName          = "pods.sparkplane.io"
	webhookFailurePolicy = admissionregistrationv1.Ignore
	// webhookTimeoutSeconds is longer than the chart's 3 s: JVMs starting
	// on a laptop's few cores can delay an answer that takes milliseconds
	// on a cluster, and with Ignore a late answer is an unplaced executor.
	webhookTimeoutSeconds = 10
)

// webhookConfiguration is the registration of the webhook at url.
func webhookConfiguration(url string, caBundle []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigurationName, Labels: map[string]string{"app.kubernetes.io/managed-by": "sparkplane-local"}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         WebhookName,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url), CABundle: caBundle},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			// Only Spark pods are sent to the webhook at all.
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: spark.LabelRole, Operator: metav1.LabelSelectorOpExists,
			}}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{metav1.NamespaceSystem},
			}}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(webhookFailurePolicy),
			TimeoutSeconds:          ptr.To[int32](webhookTimeoutSeconds),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

// EnableWebhook registers the sparkplane webhook with the API server and
// waits until it mutates Spark pods.
func (c *Cluster) EnableWebhook(ctx context.Context) error {
	want := webhookConfiguration(c.webhookURL, c.caBundle)
	configs := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	existing, err := configs.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := configs.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("registering the webhook: %w", err)
		}
	case err != nil:
		return fmt.Errorf("registering the webhook: %w", err)
	default:
		existing.Webhooks = want.Webhooks
		if _, err := configs.Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("registering the webhook: %w", err)
		}
	}
	return c.CP.WaitForWebhook(ctx, func(p *corev1.Pod) bool { return p.Annotations[placement.AnnotationDecision] != "" })
}

// DisableWebhook removes the webhook registration; Spark pods are then
// placed by the scheduler alone.
func (c *Cluster) DisableWebhook(ctx context.Context) error {
	err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, WebhookConfigurationName, metav1.DeleteOptions{})
	if err != nil {
		return fmt.Errorf("removing webhook registration: %w", err)
	}
	return c.CP.WaitForWebhook(ctx, func(p *corev1.Pod) bool { return p.Annotations[placement.AnnotationDecision] == "" })
}
