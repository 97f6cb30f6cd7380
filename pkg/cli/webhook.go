package cli

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

func newWebhookCommand() *cobra.Command {
	var (
		kubeconfig, configFile string
		skipPermissionCheck    bool
		server                 = webhook.ServerOptions{BindAddress: "0.0.0.0", SecurePort: 9443}
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Run the mutating admission webhook for Spark pods",
		Long: `Run the sparkplane mutating admission webhook.

For every pod labelled spark-role=executor it requires the zone of the node
its driver runs on (a nodeSelector entry, ANDed with the pod's own
constraints), and it steers drivers to on-demand and executors to spot
capacity. Pods without a spark-role label are never changed.

It serves over HTTPS on --secure-port:
  ` + webhook.PathMutate + `   the AdmissionReview endpoint (register it in a MutatingWebhookConfiguration)
  ` + webhook.PathHealthz + `        liveness
  ` + webhook.PathReadyz + `         readiness: ready once the TLS certificate is loaded and the pod and node caches are synced
  ` + webhook.PathMetrics + `        Prometheus metrics

It never returns a patch that would make a pod invalid: such a pod is
admitted unchanged, with a warning, an InvalidPatch event and a metric.
Invalid sparkplane annotations on executors are ignored and reported in
InvalidAnnotation events on the executor and its driver.

At start-up it asks the API server (SelfSubjectAccessReviews) whether its
identity may do what its configuration needs: list and watch pods and nodes,
create and patch events, and with the availability escape patch and delete
pods. It
exits naming every missing permission and the fix rather than start with an
empty cache (--skip-permission-check starts it anyway; informer errors are
then logged and /readyz stays false until the caches sync).

Configuration: --config FILE (apiVersion: sparkplane.io/v1alpha1); see
'sparkplane config print-defaults' and docs/webhook.md.`,
		Example: `  sparkplane webhook --kubeconfig ~/.kube/config \
    --tls-cert-file tls.crt --tls-private-key-file tls.key --config sparkplane.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := v1alpha1.Load(configFile)
			if err != nil {
				return err
			}
			restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("loading --kubeconfig %q (empty means in-cluster): %w", kubeconfig, err)
			}
			log := klog.Background().WithName("webhook")
			// New checks the flags without calling the API server; then the permissions.
			wh, err := webhook.New(webhook.Options{Config: cfg, RestConfig: restCfg, Server: server, Log: log})
			if err != nil {
				return err
			}
			if skipPermissionCheck {
				log.Info("Skipping the permission check (--skip-permission-check)")
			} else if err := checkWebhookPermissions(cmd.Context(), restCfg, cfg); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return wh.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig; empty means the in-cluster service account.")
	f.StringVar(&configFile, "config", "", "Path to a SparkplaneConfiguration file (apiVersion sparkplane.io/v1alpha1); empty means the defaults.")
	f.StringVar(&server.BindAddress, "bind-address", server.BindAddress, "Address to serve HTTPS on.")
	f.IntVar(&server.SecurePort, "secure-port", server.SecurePort, "Port to serve HTTPS on (0 picks a free port).")
	f.StringVar(&server.CertFile, "tls-cert-file", "", "PEM certificate for HTTPS; reloaded when the file changes.")
	f.StringVar(&server.KeyFile, "tls-private-key-file", "", "PEM private key matching --tls-cert-file; reloaded when the file changes.")
	f.BoolVar(&skipPermissionCheck, "skip-permission-check", false, "Start without checking, with SelfSubjectAccessReviews, that the webhook may list and watch pods and nodes and create events (and patch and delete pods when the availability escape is on).")
	return cmd
}

// checkWebhookPermissions fails, naming each missing permission and the fix,
// when the webhook's identity lacks an access its configuration needs.
func checkWebhookPermissions(ctx context.Context, cfg *rest.Config, conf *v1alpha1.SparkplaneConfiguration) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating client for the permission check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return webhook.CheckPermissions(ctx, client, webhook.RequiredPermissions(conf))
}
