package cli

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sparkplane/sparkplane/pkg/certs"
)

func newCertsCommand() *cobra.Command {
	var (
		kubeconfig string
		opts       = certs.DefaultOptions()
	)
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Issue and rotate the webhook's TLS certificate (self-managed mode)",
		Long: `Issue and rotate the TLS certificate of the sparkplane webhook.

The API server calls the webhook over HTTPS and checks its certificate against
the caBundle of the MutatingWebhookConfiguration. This controller (built on
open-policy-agent/cert-controller) keeps both in step:

  - it generates a CA and a serving certificate for
    <service-name>.<namespace>.svc (and .svc.cluster.local) and writes
    tls.crt, tls.key, ca.crt (and ca.key) into the existing (empty, Opaque)
    Secret --secret-name; it never creates or deletes Secrets;
  - it copies the CA into the caBundle of every webhook of the
    MutatingWebhookConfiguration --webhook-configuration;
  - every --rotation-check-interval it renews whatever expires within
    --lookahead: the serving certificate alone (same CA, no interruption), or
    the CA together with a new certificate when the CA itself is due.

Durations: the CA is trusted by nothing but this one caBundle, and renewing it
replaces the caBundle at once while webhook pods keep serving the old
certificate until the kubelet refreshes their volume (about a minute, during
which failurePolicy Ignore admits Spark pods unplaced); so it lives long
(--ca-validity 5 years). The serving certificate, whose key is in every
webhook pod, is short-lived (--cert-validity 90 days) and is renewed 30 days
before it expires (--lookahead), checked hourly, leaving a month to notice a
broken controller before anything expires.

The webhook pods mount the Secret read-only (the kubelet reads it, not the
webhook's ServiceAccount) and start with the files missing or empty: they
report not ready and log "waiting for TLS certificate" every 10s until the
files are valid, then reload every rotation without a restart.

cert-controller expects the Secret to be mounted into its own pod too: mount it
read-only (optional: true) at --cert-dir; it waits for tls.crt to appear there
and exits if it never does.

RBAC (nothing else; every list and watch selects metadata.name, so rules can be
restricted by resourceNames):
  Role in --namespace:  secrets  get, list, watch, update
                        resourceNames: [--secret-name]
  ClusterRole:          mutatingwebhookconfigurations (admissionregistration.k8s.io)
                        get, list, watch, update
                        resourceNames: [--webhook-configuration]
Before it writes anything it checks these permissions and that the Secret and
the configuration exist, and exits with an error naming what is missing.
Run one replica; it needs no leader election.

Health: /healthz (alive) and /readyz (certificate issued and CA injected) on
--health-probe-bind-address.

With cert-manager, do not run this command: let a Certificate write the same
Secret and annotate the configuration with cert-manager.io/inject-ca-from.`,
		Example: `  sparkplane certs --namespace sparkplane-system --secret-name sparkplane-webhook-tls \
    --service-name sparkplane-webhook --webhook-configuration sparkplane`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			rest, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("loading --kubeconfig %q (empty means in-cluster): %w", kubeconfig, err)
			}
			// cert-controller logs through controller-runtime's global logger.
			ctrllog.SetLogger(klog.NewKlogr())
			c, err := certs.New(rest, opts, klog.Background().WithName("certs"))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return c.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig; empty means the in-cluster service account.")
	f.StringVar(&opts.Namespace, "namespace", opts.Namespace, "Namespace of the Secret and of the webhook's Service.")
	f.StringVar(&opts.SecretName, "secret-name", opts.SecretName, "Existing Secret (created empty, type Opaque) to fill with tls.crt, tls.key and ca.crt.")
	f.StringVar(&opts.ServiceName, "service-name", opts.ServiceName, "Service in front of the webhook; the certificate is for <service-name>.<namespace>.svc.")
	f.StringVar(&opts.WebhookConfiguration, "webhook-configuration", opts.WebhookConfiguration, "MutatingWebhookConfiguration whose webhooks get the CA as caBundle.")
	f.StringVar(&opts.CertDir, "cert-dir", opts.CertDir, "Directory where the Secret is mounted into this pod (read-only, optional: true).")
	f.DurationVar(&opts.CAValidity, "ca-validity", opts.CAValidity, "Lifetime of a new CA.")
	f.DurationVar(&opts.CertValidity, "cert-validity", opts.CertValidity, "Lifetime of a new serving certificate; at most --ca-validity.")
	f.DurationVar(&opts.Lookahead, "lookahead", opts.Lookahead, "Renew a certificate or CA that expires within this; shorter than --cert-validity.")
	f.DurationVar(&opts.RotationCheckInterval, "rotation-check-interval", opts.RotationCheckInterval, "How often to check for expiry; shorter than --lookahead.")
	f.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", opts.HealthProbeBindAddress, "Address for /healthz and /readyz; 0 disables.")
	return cmd
}
