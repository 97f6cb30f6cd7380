package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkplane/sparkplane/pkg/certs"
	"github.com/sparkplane/sparkplane/pkg/cli"
	"github.com/sparkplane/sparkplane/pkg/webhook"
	"github.com/sparkplane/sparkplane/test/testkit"
)

const caCertKey = "ca.crt"

// The chart's install order: the webhook starts on the empty Secret and
// waits; `sparkplane certs`, as a ServiceAccount with only name-restricted
// RBAC, fills the Secret and the caBundle; the webhook then serves a
// certificate the API server would accept for the Service name.
func TestCertsCommandWithMinimalRBACMakesWebhookReady(t *testing.T) {
	in := setup(t, allVerbs, allVerbs)
	ctx := context.Background()

	// RBAC is enforced and restricted by name: the ServiceAccount may not
	// list the namespace's Secrets, only select its own.
	sa := kubernetes.NewForConfigOrDie(in.sa)
	if _, err := sa.CoreV1().Secrets(in.ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing all Secrets as the ServiceAccount: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Secrets(in.ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + secretName}); err != nil {
		t.Fatalf("listing the one Secret by name as the ServiceAccount: %v", err)
	}

	// The webhook pod mounts only the certificate and key (items), so the
	// CA key stays out of it.
	wh := startWebhook(t, in.project(t, corev1.TLSCertKey, corev1.TLSPrivateKeyKey))
	readyz := "https://" + wh.Addr() + webhook.PathReadyz
	code, body, _, err := testkit.HTTPSGet(readyz, nil, "")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "TLS certificate") {
		t.Fatalf("webhook /readyz before the certificate exists: %d %q %v, want 503 waiting for the TLS certificate", code, body, err)
	}

	probe := freeAddr(t)
	cmd := cli.NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"certs", "--kubeconfig", in.kubeconfig(t),
		"--namespace", in.ns, "--secret-name", secretName, "--service-name", serviceName,
		"--webhook-configuration", in.mwc, "--cert-dir", in.project(t), "--health-probe-bind-address", probe})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sparkplane certs: %v\n%s", err, out.String())
		}
	}()

	eventually(t, "sparkplane certs /readyz 200", func() bool {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	s := in.secret(t)
	ca, issued := s.Data[caCertKey], s.Data[corev1.TLSCertKey]
	leaf := parseCert(t, issued)
	for _, name := range []string{in.dnsName(), in.dnsName() + ".cluster.local"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: testkit.CertPool(t, ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("tls.crt does not verify for %s against ca.crt: %v", name, err)
		}
	}
	if _, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]); err != nil {
		t.Errorf("tls.key does not match tls.crt: %v", err)
	}
	if got := in.caBundle(t); !bytes.Equal(got, ca) {
		t.Errorf("caBundle is not the Secret's ca.crt:\n%s\nwant\n%s", got, ca)
	}

	eventually(t, "webhook /readyz 200, verified with the caBundle for the Service name", func() bool {
		code, _, _, err := testkit.HTTPSGet(readyz, testkit.CertPool(t, in.caBundle(t)), in.dnsName())
		return err == nil && code == http.StatusOK
	})

	// `helm upgrade` patches the chart's empty tls.crt and tls.key over the
	// filled Secret (its three-way merge diffs against the live object);
	// ca.crt and ca.key are not in the chart and stay. The controller
	// re-issues the serving certificate under the same CA, so the caBundle
	// the API server trusts does not change.
	reset := []byte(`{"data":{"tls.crt":"","tls.key":""}}`)
	if _, err := cp.Client.CoreV1().Secrets(in.ns).Patch(ctx, secretName, types.StrategicMergePatchType, reset, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "serving certificate re-issued after a helm upgrade emptied it", func() bool {
		s := in.secret(t)
		return len(s.Data[corev1.TLSCertKey]) > 0 && !bytes.Equal(s.Data[corev1.TLSCertKey], issued)
	})
	if s := in.secret(t); !bytes.Equal(s.Data[caCertKey], ca) || !bytes.Equal(in.caBundle(t), ca) {
		t.Error("the CA or caBundle changed after the serving certificate was re-issued")
	}
}

// With short lifetimes the controller renews the serving certificate under
// the same CA, then the CA; the caBundle follows, and a webhook server that
// is never restarted serves the newest certificate, trusted by the
// caBundle.
func TestRotationReachesCABundleAndRunningServer(t *testing.T) {
	in := setup(t, allVerbs, allVerbs)
	dir := in.project(t, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	srv, err := webhook.NewServer(webhook.ServerOptions{
		BindAddress: "127.0.0.1", CertFile: dir + "/" + corev1.TLSCertKey, KeyFile: dir + "/" + corev1.TLSPrivateKeyKey,
	}, http.NewServeMux(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(srvCtx) }()
	defer func() {
		stopSrv()
		if err := <-srvDone; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	}()
	url := "https://" + srv.Addr() + "/"

	// The CA is renewed from 10s on (30s - 20s lookahead), the serving
	// certificate from 5s on; a finished state stays valid for 20s.
	opts := in.options()
	opts.CertDir = in.project(t)
	opts.CAValidity, opts.CertValidity, opts.Lookahead, opts.RotationCheckInterval = 30*time.Second, 25*time.Second, 20*time.Second, time.Second
	c, stopCerts := startCerts(t, in, opts)
	eventually(t, "controller ready", func() bool { return c.Ready(nil) == nil })

	first := in.secret(t)
	firstCA, firstCert := first.Data[caCertKey], first.Data[corev1.TLSCertKey]
	eventually(t, "server serves the first certificate", func() bool {
		_, _, peer, err := testkit.HTTPSGet(url, testkit.CertPool(t, in.caBundle(t)), in.dnsName())
		return err == nil && fingerprint(peer) == fingerprint(parseCert(t, firstCert))
	})

	renewedUnderSameCA := false
	eventually(t, "CA renewed and the caBundle following it", func() bool {
		s := in.secret(t)
		if bytes.Equal(s.Data[caCertKey], firstCA) && !bytes.Equal(s.Data[corev1.TLSCertKey], firstCert) {
			renewedUnderSameCA = true
		}
		return !bytes.Equal(s.Data[caCertKey], firstCA) && bytes.Equal(in.caBundle(t), s.Data[caCertKey])
	})
	if !renewedUnderSameCA {
		t.Error("the serving certificate was never renewed under the first CA before the CA was renewed")
	}

	// Stop rotating so the end state is fixed, then expect the running
	// server to serve it.
	stopCerts()
	final := in.secret(t)
	if !bytes.Equal(in.caBundle(t), final.Data[caCertKey]) {
		t.Fatal("caBundle differs from the Secret's ca.crt after the controller stopped")
	}
	want := fingerprint(parseCert(t, final.Data[corev1.TLSCertKey]))
	eventually(t, "server, never restarted, serves the final certificate trusted by the new caBundle", func() bool {
		_, _, peer, err := testkit.HTTPSGet(url, testkit.CertPool(t, in.caBundle(t)), in.dnsName())
		return err == nil && fingerprint(peer) == want
	})
}

// Without a permission the controller exits at once with an error naming
// it, and writes nothing.
func TestMissingPermissionFailsBeforeWriting(t *testing.T) {
	tests := []struct {
		name                  string
		secretVerbs, mwcVerbs []string
		prepare               func(t *testing.T, in *install)
		want                  []string
	}{
		{
			name: "no update on the MutatingWebhookConfiguration", secretVerbs: allVerbs, mwcVerbs: without(allVerbs, "update"),
			want: []string{"forbidden", `update mutatingwebhookconfigurations.admissionregistration.k8s.io "sparkplane-`},
		},
		{
			name: "no watch on the Secret", secretVerbs: without(allVerbs, "watch"), mwcVerbs: allVerbs,
			want: []string{"forbidden", `watch secrets "sparkplane-webhook-tls" in namespace`},
		},
		{
			name: "Secret missing", secretVerbs: allVerbs, mwcVerbs: allVerbs,
			prepare: func(t *testing.T, in *install) {
				if err := cp.Client.CoreV1().Secrets(in.ns).Delete(context.Background(), secretName, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"not found", "never creates Secrets"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := setup(t, tc.secretVerbs, tc.mwcVerbs)
			if tc.prepare != nil {
				tc.prepare(t, in)
			}
			opts := in.options()
			opts.CertDir = t.TempDir()
			c, err := certs.New(in.sa, opts, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = c.Run(ctx)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("Run = %v (context: %v), want an immediate error", err, ctx.Err())
			}
			t.Logf("Run: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if c.Ready(httptest.NewRequest(http.MethodGet, "/readyz", nil)) == nil {
				t.Error("controller reports ready")
			}
			if s, err := cp.Client.CoreV1().Secrets(in.ns).Get(context.Background(), secretName, metav1.GetOptions{}); err == nil && len(s.Data[corev1.TLSCertKey])+len(s.Data[caCertKey]) > 0 {
				t.Error("the Secret was written")
			}
			if len(in.caBundle(t)) > 0 {
				t.Error("the caBundle was written")
			}
		})
	}
}

// startCerts runs the controller as the ServiceAccount; stop ends it and
// waits, and expects a clean stop.
func startCerts(t *testing.T, in *install, opts certs.Options) (*certs.Controller, func()) {
	t.Helper()
	c, err := certs.New(in.sa, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("certs controller: %v", err)
		}
	}
	t.Cleanup(stop)
	return c, stop
}
