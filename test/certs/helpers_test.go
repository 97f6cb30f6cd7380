package certs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/certs"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/webhook"
	"github.com/sparkplane/sparkplane/test/testkit"
)

// Names as the Helm chart makes them (release "sparkplane"); the namespace
// and the cluster-scoped names are per test.
const (
	secretName     = "sparkplane-webhook-tls"
	serviceName    = "sparkplane-webhook"
	serviceAccount = "sparkplane-certs"
)

var allVerbs = []string{"get", "list", "watch", "update"}

// install is what the chart installs for one test: namespace, empty TLS
// Secret, MutatingWebhookConfiguration without caBundle, and the certs
// ServiceAccount with the name-restricted RBAC of contracts.md.
type install struct {
	ns, mwc string
	// sa is a rest.Config impersonating the certs ServiceAccount.
	sa *rest.Config
}

// setup installs the objects; secretVerbs and mwcVerbs are the verbs the
// ServiceAccount gets on the Secret and on the configuration.
func setup(t *testing.T, secretVerbs, mwcVerbs []string) *install {
	t.Helper()
	ctx := context.Background()
	ns := cp.Namespace(t)
	in := &install{ns: ns, mwc: "sparkplane-" + ns}
	c := cp.Client

	// The chart creates the Secret empty; kubernetes.io/tls requires both
	// keys to be present, so they are present and empty.
	mustCreate(t, func() error {
		_, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secretName},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: {}, corev1.TLSPrivateKeyKey: {}},
		}, metav1.CreateOptions{})
		return err
	})
	sideEffects := admissionregistrationv1.SideEffectClassNone
	mustCreate(t, func() error {
		_, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: in.mwc},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: "pods.sparkplane.io",
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
					Namespace: ns, Name: serviceName, Path: ptr.To(webhook.PathMutate), Port: ptr.To[int32](443),
				}},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}},
				// Only this test's namespace and Spark pods: nothing else in the
				// shared apiserver is sent to a webhook that does not exist.
				NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
				ObjectSelector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "spark-role", Operator: metav1.LabelSelectorOpExists}}},
				SideEffects:             &sideEffects,
				FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
				AdmissionReviewVersions: []string{"v1"},
			}},
		}, metav1.CreateOptions{})
		return err
	})
	t.Cleanup(func() {
		_ = c.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, in.mwc, metav1.DeleteOptions{})
	})

	mustCreate(t, func() error {
		_, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount}}, metav1.CreateOptions{})
		return err
	})
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: serviceAccount}}
	mustCreate(t, func() error {
		_, err := c.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: serviceAccount},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secretName}, Verbs: secretVerbs}},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: serviceAccount},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: serviceAccount},
			Subjects:   subjects,
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: in.mwc + "-certs"},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{admissionregistrationv1.GroupName}, Resources: []string{"mutatingwebhookconfigurations"},
				ResourceNames: []string{in.mwc}, Verbs: mwcVerbs,
			}},
		}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: in.mwc + "-certs"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: in.mwc + "-certs"},
			Subjects:   subjects,
		}, metav1.CreateOptions{})
		return err
	})
	t.Cleanup(func() {
		_ = c.RbacV1().ClusterRoleBindings().Delete(ctx, in.mwc+"-certs", metav1.DeleteOptions{})
		_ = c.RbacV1().ClusterRoles().Delete(ctx, in.mwc+"-certs", metav1.DeleteOptions{})
	})

	in.sa = rest.CopyConfig(cp.Config)
	in.sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + serviceAccount}
	// The RBAC authorizer sees new bindings through its informers; wait
	// until the last granted verb is in effect.
	sa := kubernetes.NewForConfigOrDie(in.sa)
	eventually(t, "RBAC for the ServiceAccount in effect", func() bool {
		return allowed(t, sa, "", "secrets", ns, secretName, secretVerbs[len(secretVerbs)-1]) &&
			allowed(t, sa, admissionregistrationv1.GroupName, "mutatingwebhookconfigurations", "", in.mwc, mwcVerbs[len(mwcVerbs)-1])
	})
	return in
}

func (in *install) options() certs.Options {
	o := certs.DefaultOptions()
	o.Namespace, o.SecretName, o.ServiceName, o.WebhookConfiguration = in.ns, secretName, serviceName, in.mwc
	o.HealthProbeBindAddress = "0"
	return o
}

// dnsName is the name the API server verifies the webhook's certificate for.
func (in *install) dnsName() string { return serviceName + "." + in.ns + ".svc" }

func (in *install) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := cp.Client.CoreV1().Secrets(in.ns).Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading Secret: %v", err)
	}
	return s
}

func (in *install) caBundle(t *testing.T) []byte {
	t.Helper()
	m, err := cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), in.mwc, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading MutatingWebhookConfiguration: %v", err)
	}
	return m.Webhooks[0].ClientConfig.CABundle
}

// kubeconfig writes a kubeconfig that acts as the certs ServiceAccount.
func (in *install) kubeconfig(t *testing.T) string {
	t.Helper()
	cfg, err := cp.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.AuthInfos[controlplane.KubeconfigContext].Impersonate = in.sa.Impersonate.UserName
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// project mounts the Secret as an optional secret volume, the way the
// kubelet does (testkit.ProjectSecret). keys restricts the projected keys
// like a volume's items; none means all.
func (in *install) project(t *testing.T, keys ...string) string {
	t.Helper()
	var items []corev1.KeyToPath
	for _, k := range keys {
		items = append(items, corev1.KeyToPath{Key: k, Path: k})
	}
	return testkit.ProjectSecret(t, cp.Client, in.ns, corev1.SecretVolumeSource{
		SecretName: secretName, Items: items, DefaultMode: ptr.To[int32](0o644), Optional: ptr.To(true),
	})
}

// startWebhook runs the real webhook (caches against the apiserver as
// admin; only the certificate matters here) serving from dir.
func startWebhook(t *testing.T, dir string) *webhook.Webhook {
	t.Helper()
	wh, err := webhook.New(webhook.Options{
		RestConfig: cp.Config,
		Server: webhook.ServerOptions{
			BindAddress: "127.0.0.1",
			CertFile:    filepath.Join(dir, corev1.TLSCertKey),
			KeyFile:     filepath.Join(dir, corev1.TLSPrivateKeyKey),
		},
		Log: testLogger(t).WithName("webhook"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wh.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook Run: %v", err)
		}
	})
	return wh
}

func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		t.Fatalf("no PEM block in %q", pemBytes)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fingerprint identifies a certificate; cert-controller gives every serving
// certificate serial number 1, so serials do not tell rotations apart.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:8])
}

func allowed(t *testing.T, c kubernetes.Interface, group, resource, ns, name, verb string) bool {
	t.Helper()
	r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Group: group, Resource: resource, Namespace: ns, Name: name, Verb: verb,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectAccessReview: %v", err)
	}
	return r.Status.Allowed
}

func without(verbs []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(verbs), func(v string) bool { return v == drop })
}

func mustCreate(t *testing.T, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 45s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testLogger logs to klog, which the control plane routes to its log file;
// unlike t.Log it is safe in goroutines that outlive the test.
func testLogger(t *testing.T) logr.Logger { return klog.NewKlogr().WithName(t.Name()) }
