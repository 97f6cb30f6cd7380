package deploy

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/cli"
	"github.com/sparkplane/sparkplane/pkg/webhook"
	"github.com/sparkplane/sparkplane/test/testkit"
)

// TestCertsFromChart runs `sparkplane certs` with the rendered certs
// Deployment's args as its ServiceAccount, with the Secret projected into
// its cert dir as the kubelet does: the empty Secret is filled, the CA
// injected into the rendered webhook configuration, and the webhook run
// from the chart (its volume projects only tls.crt and tls.key) serves a
// certificate the API server would accept for the Service's name.
func TestCertsFromChart(t *testing.T) {
	if c, _, err := cli.NewRootCommand().Find([]string{"certs"}); err != nil || c.Name() != "certs" {
		t.Skip("`sparkplane certs` does not exist yet (the certs helper's command); the chart's certs Deployment is only applied, not run")
	}
	ctx := context.Background()
	r := render(t, "sparkplane-certs", "sparkplane-certs")
	r.apply(t)
	dep := r.deployment(t, "certs")
	user := r.serviceAccountUser(t, "certs")
	secretName := r.fullname() + "-webhook-tls"
	waitForBinding(t, user, authorizationv1.ResourceAttributes{Verb: "update", Resource: "secrets", Namespace: r.namespace, Name: secretName})
	waitForBinding(t, user, authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: r.fullname()})

	// The ServiceAccount may touch its Secret only, by name.
	sa := clientAs(t, user)
	if _, err := sa.CoreV1().Secrets(r.namespace).List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the certs ServiceAccount may list every Secret of its namespace")
	}

	probe := freePort(t)
	args := replaceArgs(t, dep.Spec.Template.Spec.Containers[0].Args, map[string]string{
		"--cert-dir":                  project(t, r.namespace, volume(t, dep.Spec.Template.Spec, "tls")),
		"--health-probe-bind-address": "127.0.0.1:" + itoa(probe),
	})
	certs := runCommand(t, append(args, "--kubeconfig="+kubeconfigAs(t, user)))
	eventually(t, "sparkplane certs /readyz 200 (certificate issued, CA injected)", func() bool {
		if done, err := certs.exited(); done {
			t.Fatalf("sparkplane certs exited: %v\n%s", err, certs.out.String())
		}
		resp, err := http.Get("http://127.0.0.1:" + itoa(probe) + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	s, err := shared.cp.Client.CoreV1().Secrets(r.namespace).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca := s.Data["ca.crt"]
	if len(s.Data[corev1.TLSCertKey]) == 0 || len(s.Data[corev1.TLSPrivateKeyKey]) == 0 || len(ca) == 0 {
		t.Fatalf("Secret %s not filled: keys %v", secretName, keys(s.Data))
	}
	mwc, err := shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, r.fullname(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mwc.Webhooks[0].ClientConfig.CABundle, ca) {
		t.Error("the MutatingWebhookConfiguration's caBundle is not the Secret's ca.crt")
	}
	svc := r.fullname() + "-webhook." + r.namespace + ".svc"
	block, _ := pem.Decode(s.Data[corev1.TLSCertKey])
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: svc, Roots: testkit.CertPool(t, ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the serving certificate does not verify for %s against the caBundle: %v", svc, err)
	}

	// The webhook from the chart, its TLS files projected from the webhook
	// pod's own volume definition.
	whDep := r.deployment(t, "webhook")
	tlsDir := project(t, r.namespace, volume(t, whDep.Spec.Template.Spec, "tls"))
	eventually(t, "the kubelet-style projection of tls.crt", func() bool {
		_, err := os.Stat(filepath.Join(tlsDir, corev1.TLSCertKey))
		return err == nil
	})
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.key")); !os.IsNotExist(err) {
		t.Errorf("the webhook pod's TLS volume holds the CA's private key (ca.key): %v", err)
	}
	cm := typed[corev1.ConfigMap](t, r.get(t, "ConfigMap", r.fullname()+"-config"))
	port := freePort(t)
	whArgs := replaceArgs(t, whDep.Spec.Template.Spec.Containers[0].Args, map[string]string{
		"--config": writeFile(t, "config.yaml", cm.Data["config.yaml"]), "--secure-port": itoa(port),
		"--tls-cert-file": filepath.Join(tlsDir, corev1.TLSCertKey), "--tls-private-key-file": filepath.Join(tlsDir, corev1.TLSPrivateKeyKey),
	})
	whUser := r.serviceAccountUser(t, "webhook")
	waitForBinding(t, whUser, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"})
	wh := runCommand(t, append(whArgs, "--kubeconfig="+kubeconfigAs(t, whUser), "--bind-address=127.0.0.1"))
	eventually(t, "the webhook to serve /readyz 200 with a certificate the caBundle verifies for "+svc, func() bool {
		if done, err := wh.exited(); done {
			t.Fatalf("webhook exited: %v\n%s", err, wh.out.String())
		}
		code, _, _, err := testkit.HTTPSGet("https://127.0.0.1:"+itoa(port)+webhook.PathReadyz, testkit.CertPool(t, mwc.Webhooks[0].ClientConfig.CABundle), svc)
		return err == nil && code == http.StatusOK
	})
}

func volume(t *testing.T, spec corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("pod has no volume %q", name)
	return corev1.Volume{}
}

// project mounts a pod's secret volume the way the kubelet does.
func project(t *testing.T, namespace string, vol corev1.Volume) string {
	t.Helper()
	if vol.Secret == nil {
		t.Fatalf("volume %s is not a secret volume", vol.Name)
	}
	return testkit.ProjectSecret(t, shared.cp.Client, namespace, *vol.Secret)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
