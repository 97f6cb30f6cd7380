package cli

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkplane/sparkplane/pkg/audit"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

func TestExplainListError(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	nodes := schema.GroupResource{Resource: "nodes"}
	tests := []struct {
		name          string
		err           error
		resource, ns  string
		want, notWant []string
	}{
		{"pods forbidden in a namespace", apierrors.NewForbidden(pods, "", errors.New("no")), "pods", "etl",
			[]string{`needs RBAC verb "list" on pods in namespace etl`, "kubectl auth can-i list pods -n etl"}, nil},
		{"pods forbidden cluster-wide", apierrors.NewForbidden(pods, "", errors.New("no")), "pods", "",
			[]string{"on pods cluster-wide", "kubectl auth can-i list pods -A"}, nil},
		{"nodes forbidden", apierrors.NewForbidden(nodes, "", errors.New("no")), "nodes", "",
			[]string{"on nodes (nodes are cluster-scoped)", "kubectl auth can-i list nodes`"}, []string{"-A"}},
		{"unauthorized", apierrors.NewUnauthorized("bad token"), "pods", "etl",
			[]string{"rejected the credentials", "https://k8s:6443"}, nil},
		{"unreachable", &url.Error{Op: "Get", URL: "https://k8s:6443/api", Err: errors.New("connection refused")}, "pods", "etl",
			[]string{"cannot reach the API server at https://k8s:6443", "connection refused"}, nil},
		{"other status", apierrors.NewInternalError(errors.New("boom")), "pods", "etl",
			[]string{"listing pods in namespace etl", "boom"}, []string{"cannot reach"}},
	}
	for _, tt := range tests {
		got := explainListError(tt.err, "audit", tt.resource, tt.ns, "https://k8s:6443").Error()
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q should not contain %q", tt.name, got, w)
			}
		}
	}
}

func TestAuditFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-o", "yaml"}, `--output "yaml": use table or json`},
		{[]string{"--price-per-gib", "-1"}, "price per GiB -1 is negative"},
		{[]string{"--gib-per-executor-hour", "-2"}, "GiB per executor-hour -2 is negative"},
		{[]string{"--runs-per-month", "-1"}, "--runs-per-month -1 is negative"},
		{[]string{"--provider", "custom"}, "set provider in a --config file"},
		{[]string{"--provider", "nope"}, `--provider "nope"`},
		{[]string{"--zone-label", "not a label!"}, "zoneLabel"},
		{[]string{"--config", "/does/not/exist"}, "--config: reading config"},
		{[]string{"--event-log", "/does/not/exist", "--kubeconfig", "/also/missing"}, "--event-log: stat /does/not/exist"},
		{[]string{"--kubeconfig", "/does/not/exist"}, "loading the kubeconfig"},
	}
	for _, tt := range tests {
		_, err := run(t, append([]string{"audit"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("audit %v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestReadEventLog(t *testing.T) {
	start := `{"Event":"SparkListenerApplicationStart","App Name":"etl","App ID":"spark-1","Timestamp":1700000000000}`
	end := `{"Event":"SparkListenerApplicationEnd","Timestamp":1700000060000}`
	// A rolling log: parts in index order (10 after 2), without trailing newlines.
	dir := t.TempDir()
	for name, content := range map[string]string{"events_1_spark-1": start, "events_2_spark-1": "", "events_10_spark-1": end, "appstatus_spark-1": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := readEventLog(dir)
	if err != nil || l.AppID != "spark-1" || l.End.Sub(l.Start).Seconds() != 60 {
		t.Errorf("rolling log: %+v, %v", l, err)
	}
	tests := []struct{ name, content, want string }{
		{"not spark", `{"Event":"Other"}`, "is it a Spark event log"},
		{"events_x.zstd", start, "is compressed (.zstd)"},
	}
	for _, tt := range tests {
		if _, err := readEventLog(write(t, tt.name, tt.content)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := readEventLog(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no events_<n>_<app> files") {
		t.Errorf("empty dir: %v", err)
	}
}

// The table and JSON say what became of a missing driver and list finished
// apps, naming the namespace searched.
func TestAuditReportsFinishedAppsAndMissingDrivers(t *testing.T) {
	yes := true
	sparkPod := func(name, app, role string, ph corev1.PodPhase, owner string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "etl", UID: types.UID(name),
				Labels: map[string]string{spark.LabelAppSelector: app, spark.LabelRole: role, spark.LabelAppName: app + "-name"}},
			Spec:   corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: ph},
		}
		if owner != "" {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: owner, UID: types.UID(owner), Controller: &yes}}
		}
		return p
	}
	lookup := func(string) (audit.Placement, bool) { return audit.Placement{Zone: "a"}, true }
	report := func(pods ...*corev1.Pod) auditResult {
		r := audit.SummarizePods(pods, lookup)
		return auditResult{Namespace: "etl", Report: r, Totals: r.Totals()}
	}
	tests := []struct {
		name      string
		r         auditResult
		want      []string
		notWant   []string
		jsonCheck func(auditJSON) bool
	}{
		{"only a succeeded driver", report(sparkPod("d1", "spark-1", "driver", corev1.PodSucceeded, "")),
			[]string{"No running Spark apps in namespace etl; 1 finished app(s) (driver Succeeded/Failed) below.",
				"Finished apps (no live pods; not counted below):", "etl        spark-1-name  spark-1  d1      Succeeded  0", "1 finished"},
			[]string{"No Spark pods"},
			func(j auditJSON) bool {
				return len(j.Apps) == 0 && len(j.FinishedApps) == 1 && j.FinishedApps[0].Phase == "Succeeded" && j.FinishedApps[0].DriverPod == "d1" && j.Summary.FinishedApps == 1
			}},
		{"executor of a deleted driver", report(sparkPod("e1", "spark-2", "executor", corev1.PodRunning, "gone-driver")),
			[]string{"driver pod deleted (gone-driver not found)"}, []string{"client mode"},
			func(j auditJSON) bool {
				return len(j.Apps) == 1 && j.Apps[0].Driver == nil && j.Apps[0].DriverGone != nil && j.Apps[0].DriverGone.Reason == "not-found" && j.Apps[0].DriverGone.Pod == "gone-driver"
			}},
		{"client mode", report(sparkPod("e1", "spark-3", "executor", corev1.PodRunning, "")),
			[]string{"no driver pod (client mode)"}, []string{"client mode?"},
			func(j auditJSON) bool {
				return j.Apps[0].DriverGone != nil && j.Apps[0].DriverGone.Reason == "client-mode"
			}},
		{"nothing", report(), []string{"No Spark pods (label spark-role=driver|executor) in namespace etl."}, []string{"Finished apps"},
			func(j auditJSON) bool { return j.FinishedApps != nil && len(j.FinishedApps) == 0 }},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := tt.r.printTable(&b, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: table lacks %q:\n%s", tt.name, w, b.String())
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(b.String(), w) {
				t.Errorf("%s: table has %q:\n%s", tt.name, w, b.String())
			}
		}
		data, err := json.Marshal(tt.r.json())
		var j auditJSON
		if err != nil || json.Unmarshal(data, &j) != nil || !tt.jsonCheck(j) {
			t.Errorf("%s: json %s (%v)", tt.name, data, err)
		}
	}
}
