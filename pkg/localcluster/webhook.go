package localcluster

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/placement"
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

// EnableWebhook registers the sparkplane webhook with the API server and
// waits until it mutates Spark pods.
func (c *Cluster) EnableWebhook(ctx context.Context) error {
	err := c.CP.ApplyMutatingWebhook(ctx, controlplane.WebhookRegistration{
		Name: WebhookConfigurationName, WebhookName: WebhookName, URL: c.webhookURL, CABundle: c.caBundle,
		FailurePolicy: webhookFailurePolicy, TimeoutSeconds: webhookTimeoutSeconds,
		ExcludeNamespaces: []string{metav1.NamespaceSystem},
		Labels:            map[string]string{"app.kubernetes.io/managed-by": "sparkplane-local"},
	})
	if err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
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
