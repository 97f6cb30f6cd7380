// Package certs issues and rotates the webhook's serving certificate. It is
// a thin adapter over cert-controller's rotator
// (github.com/open-policy-agent/cert-controller): the rotator keeps a CA and
// a serving certificate for <service>.<namespace>.svc in one existing
// Secret (tls.crt, tls.key, ca.crt), renews them before they expire, and injects the
// CA into the caBundle of every webhook of one MutatingWebhookConfiguration.
// The webhook pods mount the Secret; the kubelet refreshes the files and the
// webhook's certificate watcher reloads them.
//
// This package adds what a separate, least-privileged Deployment needs:
// every list and watch is narrowed to the one Secret and the one
// configuration (see nameScope), permissions and objects are checked before
// anything is written, and readiness is served on a health-probe port.
package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

const (
	// FieldManager owns the caBundle fields this controller writes.
	FieldManager = "sparkplane-certs"
	caName       = "sparkplane-webhook-ca"
	caOrg        = "sparkplane"
)

// Controller runs the rotator in a controller-runtime manager.
type Controller struct {
	opts    Options
	client  kubernetes.Interface
	mgr     manager.Manager
	rotator *rotator.CertRotator
	log     logr.Logger
}

// New validates opts and wires the manager and rotator; nothing talks to the
// API server until Run. cfg is used as is apart from the request scoping,
// so an impersonating config runs the controller as that identity.
func New(cfg *rest.Config, opts Options, log logr.Logger) (*Controller, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sparkplane-certs"
	}
	collections := scopedCollections(opts)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &nameScope{next: rt, names: collections} })

	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	byName := func(name string) fields.Selector { return fields.OneTermEqualSelector(metav1.ObjectNameField, name) }
	mgr, err := manager.New(cfg, manager.Options{
		Scheme: scheme,
		Logger: log,
		// The manager's own cache is unused by the rotator (it reads through a
		// private cache); restrict it anyway so nothing here can widen reads.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{opts.Namespace: {}}, Field: byName(opts.SecretName)},
			&admissionregistrationv1.MutatingWebhookConfiguration{}: {Field: byName(opts.WebhookConfiguration)},
		}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: opts.HealthProbeBindAddress,
	})
	if err != nil {
		return nil, fmt.Errorf("creating controller manager: %w", err)
	}
	c := &Controller{opts: opts, client: clientset, mgr: mgr, log: log}
	c.rotator = &rotator.CertRotator{
		SecretKey:              types.NamespacedName{Namespace: opts.Namespace, Name: opts.SecretName},
		CertDir:                opts.CertDir,
		CAName:                 caName,
		CAOrganization:         caOrg,
		DNSName:                opts.DNSName(),
		ExtraDNSNames:          opts.DNSNames()[1:],
		IsReady:                make(chan struct{}),
		Webhooks:               []rotator.WebhookInfo{{Name: opts.WebhookConfiguration, Type: rotator.Mutating}},
		FieldOwner:             FieldManager,
		ExtKeyUsages:           &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		CaCertDuration:         opts.CAValidity,
		ServerCertDuration:     opts.CertValidity,
		RotationCheckFrequency: opts.RotationCheckInterval,
		LookaheadInterval:      opts.Lookahead,
		// Controller names are process-global in controller-runtime; one per
		// Secret keeps several controllers in one process (tests) apart.
		ControllerName: "cert-rotator-" + opts.Namespace + "-" + opts.SecretName,
	}
	if err := rotator.AddRotator(mgr, c.rotator); err != nil {
		return nil, fmt.Errorf("adding cert rotator: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding liveness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("certificate", c.Ready); err != nil {
		return nil, fmt.Errorf("adding readiness check: %w", err)
	}
	return c, nil
}

// Ready reports whether the Secret holds a valid certificate and its CA has
// been injected into the webhook configuration (readiness check).
func (c *Controller) Ready(*http.Request) error {
	select {
	case <-c.rotator.IsReady:
		return nil
	default:
		return fmt.Errorf("certificate in Secret %s/%s not issued or its CA not yet in the caBundle of MutatingWebhookConfiguration %s",
			c.opts.Namespace, c.opts.SecretName, c.opts.WebhookConfiguration)
	}
}

// Run checks the preconditions, then runs the rotator until ctx ends. A
// missing object or permission fails here, before anything is written.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.Preflight(ctx); err != nil {
		return err
	}
	c.log.Info("starting certificate rotation",
		"secret", c.opts.Namespace+"/"+c.opts.SecretName, "dnsNames", c.opts.DNSNames(),
		"mutatingWebhookConfiguration", c.opts.WebhookConfiguration,
		"caValidity", c.opts.CAValidity, "certValidity", c.opts.CertValidity,
		"lookahead", c.opts.Lookahead, "checkInterval", c.opts.RotationCheckInterval)
	if err := c.mgr.Start(ctx); err != nil {
		return fmt.Errorf("certificate rotation stopped: %w", err)
	}
	return nil
}

// Preflight checks that the mount directory, the Secret and the webhook
// configuration exist and that this identity has every permission the
// rotator uses, and names what is missing and how to fix it.
func (c *Controller) Preflight(ctx context.Context) error {
	o := c.opts
	if fi, err := os.Stat(o.CertDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--cert-dir %s is not a directory (%v): mount Secret %s there (read-only, optional: true); cert-controller waits for the certificate to appear there",
			o.CertDir, err, o.SecretName)
	}
	if err := c.checkAccess(ctx); err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Secrets(o.Namespace).Get(ctx, o.SecretName, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("secret %s/%s not found (--namespace, --secret-name): create it empty (type Opaque, no data), as the Helm chart does; this controller never creates Secrets", o.Namespace, o.SecretName)
		}
		return fmt.Errorf("reading Secret %s/%s: %w", o.Namespace, o.SecretName, err)
	}
	if _, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, o.WebhookConfiguration, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("MutatingWebhookConfiguration %s not found (--webhook-configuration): install it first; its caBundle is filled in here", o.WebhookConfiguration)
		}
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", o.WebhookConfiguration, err)
	}
	return nil
}

// Rule is one RBAC rule the controller needs.
type Rule struct {
	Group, Resource, Namespace, Name string
	Verbs                            []string
}

// RequiredRules are the complete permissions of the controller: a Role in
// the namespace for the Secret and a ClusterRole for the configuration,
// both restricted to the one object by resourceNames.
func (o Options) RequiredRules() []Rule {
	verbs := []string{"get", "list", "watch", "update"}
	return []Rule{
		{Group: "", Resource: "secrets", Namespace: o.Namespace, Name: o.SecretName, Verbs: verbs},
		{Group: admissionregistrationv1.GroupName, Resource: "mutatingwebhookconfigurations", Name: o.WebhookConfiguration, Verbs: verbs},
	}
}

// checkAccess asks the API server (SelfSubjectAccessReview, allowed for
// every authenticated identity) whether each required verb is granted.
func (c *Controller) checkAccess(ctx context.Context) error {
	var missing []string
	for _, r := range c.opts.RequiredRules() {
		for _, verb := range r.Verbs {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Group: r.Group, Resource: r.Resource, Namespace: r.Namespace, Name: r.Name, Verb: verb,
				},
			}}
			res, err := c.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("checking permission to %s %s %q: %w", verb, r.Resource, r.Name, err)
			}
			if !res.Status.Allowed {
				missing = append(missing, describe(r, verb))
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errors.New("forbidden: this identity may not " + strings.Join(missing, ", ") +
		"; grant get, list, watch and update on exactly the Secret (Role) and the MutatingWebhookConfiguration (ClusterRole), restricted by resourceNames — see 'sparkplane certs --help'")
}

func describe(r Rule, verb string) string {
	res := r.Resource
	if r.Group != "" {
		res += "." + r.Group
	}
	s := fmt.Sprintf("%s %s %q", verb, res, r.Name)
	if r.Namespace != "" {
		s += " in namespace " + r.Namespace
	}
	return s
}
