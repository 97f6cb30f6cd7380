package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrintDefaultsRoundTrips(t *testing.T) {
	out, err := run(t, "config", "print-defaults")
	if err != nil {
		t.Fatal(err)
	}
	c, err := v1alpha1.Parse([]byte(out))
	if err != nil {
		t.Fatalf("printed defaults do not parse: %v\n%s", err, out)
	}
	if !equality.Semantic.DeepEqual(c, v1alpha1.Default()) {
		t.Errorf("round trip differs:\n%s", out)
	}
}

func TestCommandErrorsNameTheFieldOrFlag(t *testing.T) {
	bad := write(t, "bad.yaml", "apiVersion: sparkplane.io/v1alpha1\nkind: SparkplaneConfiguration\nzonePinning:\n  mode: always\n")
	kubeconfig := write(t, "kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
current-context: c
`)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"config", "validate", bad}, `zonePinning.mode: Unsupported value: "always"`},
		{[]string{"config", "validate", "/nonexistent.yaml"}, "reading config"},
		{[]string{"webhook", "--config", bad}, "zonePinning.mode"},
		{[]string{"webhook", "--kubeconfig", "/nonexistent"}, `loading --kubeconfig "/nonexistent"`},
		{[]string{"webhook", "--kubeconfig", kubeconfig}, "--tls-cert-file and --tls-private-key-file are required"},
		{[]string{"webhook", "--kubeconfig", kubeconfig, "--skip-permission-check", "--tls-cert-file", "/nonexistent/tls.crt", "--tls-private-key-file", "/nonexistent/tls.key"}, "directory /nonexistent does not exist"},
		{[]string{"webhook", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		out, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error()+out, tt.want) {
			t.Errorf("%v: err = %v, output %q; want %q", tt.args, err, out, tt.want)
		}
	}
}

func TestHelpExplains(t *testing.T) {
	out, err := run(t, "webhook", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/mutate-pods", "/readyz", "--tls-cert-file", "--secure-port", "--config", "Pods without a spark-role label are never changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("webhook --help lacks %q", want)
		}
	}
}

func TestQueuesEmptyReason(t *testing.T) {
	tests := []struct {
		scan      queueScan
		namespace string
		want      []string
	}{
		{queueScan{}, "", []string{"no Spark pods (label spark-role=driver|executor) in all namespaces"}},
		{queueScan{sparkPods: 3}, "etl", []string{`3 Spark pod(s) in namespace etl, no driver scheduled by scheduler profile "sparkplane-scheduler"`,
			"is the sparkplane scheduler in use (sparkplane local up --scheduler sparkplane, or the Helm chart's scheduler.enabled=true)?"}},
		{queueScan{sparkPods: 3, profileDrivers: 2}, "", []string{`2 driver(s) in all namespaces name scheduler profile "sparkplane-scheduler", but none is live`}},
	}
	for _, tt := range tests {
		got := tt.scan.emptyReason("sparkplane-scheduler", tt.namespace)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v: %q lacks %q", tt.scan, got, w)
			}
		}
	}
}
