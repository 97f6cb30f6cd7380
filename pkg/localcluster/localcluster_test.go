package localcluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/karpenter"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"defaults", func(*Options) {}, ""},
		{"negative memory", func(o *Options) { o.NodeMemory = "-5Gi" }, `--node-memory "-5Gi": must be a positive quantity such as 16Gi`},
		{"zero memory", func(o *Options) { o.NodeMemory = "0" }, `--node-memory "0": must be a positive quantity`},
		{"cpu not a quantity", func(o *Options) { o.NodeCPU = "abc" }, `--node-cpu "abc": must be a positive quantity such as 4 or 500m`},
		{"zone not a label", func(o *Options) { o.Zones = []string{"Zone_A"} }, `--zones: zone "Zone_A"`},
		{"zone twice", func(o *Options) { o.Zones = []string{"a", "a"} }, `zone "a" is given twice`},
		{"negative spot", func(o *Options) { o.SpotPerZone = -1 }, "--spot-per-zone -1"},
		{"no dir", func(o *Options) { o.Dir = "" }, "--dir"},
		{"no nodes without autoscaler", func(o *Options) { o.OnDemandPerZone, o.SpotPerZone = 0, 0 }, "at least one node per zone is required (or --autoscaler karpenter"},
		{"no nodes with karpenter", func(o *Options) { o.OnDemandPerZone, o.SpotPerZone, o.Autoscaler = 0, 0, AutoscalerKarpenter }, ""},
		{"unknown autoscaler", func(o *Options) { o.Autoscaler = "cluster-autoscaler" }, `--autoscaler "cluster-autoscaler": use none (static nodes only) or karpenter`},
		{"pools without autoscaler", func(o *Options) { o.Karpenter.NodePools = DefaultNodePools() }, "need --autoscaler karpenter"},
		{"karpenter with gke labels", func(o *Options) {
			o.Autoscaler = AutoscalerKarpenter
			o.Config.Provider, _ = v1alpha1.Preset(v1alpha1.ProviderGKE)
		}, `Karpenter's nodes carry karpenter.sh/capacity-type, but the webhook configuration's provider (preset "gke") uses "cloud.google.com/gke-spot"`},
		{"no-spot zone unknown", func(o *Options) {
			o.Autoscaler, o.Karpenter.NoSpotZones = AutoscalerKarpenter, []string{"zone-x"}
		}, `--no-spot-zones: noSpotZones[0] "zone-x" is not one of the zones`},
		{"bad pool", func(o *Options) {
			p := DefaultNodePools()[0]
			p.ConsolidateAfter = "1.5m"
			o.Autoscaler, o.Karpenter.NodePools = AutoscalerKarpenter, []karpenter.NodePoolOptions{p}
		}, `node pool 0: nodePool "default": consolidateAfter "1.5m"`},
		{"pool in unknown zone", func(o *Options) {
			p := DefaultNodePools()[0]
			p.Zones = []string{"zone-q"}
			o.Autoscaler, o.Karpenter.NodePools = AutoscalerKarpenter, []karpenter.NodePoolOptions{p}
		}, `node pool "default": zone "zone-q" is not one of --zones zone-a,zone-b,zone-c`},
		{"pool twice", func(o *Options) {
			o.Autoscaler, o.Karpenter.NodePools = AutoscalerKarpenter, append(DefaultNodePools(), DefaultNodePools()...)
		}, `node pool 1: the name "default" is used twice`},
		{"bad log level", func(o *Options) { o.Autoscaler, o.Karpenter.LogLevel = AutoscalerKarpenter, "verbose" }, `--karpenter-log-level "verbose"`},
		{"fractional delay", func(o *Options) {
			o.Autoscaler, o.Karpenter.RegistrationDelay = AutoscalerKarpenter, 1500*time.Millisecond
		}, `--registration-delay 1.5s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Defaults("/nonexistent")
			tc.modify(&o)
			err := o.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

func startSmall(t *testing.T, ctx context.Context, dir string, modify func(*Options)) (*Cluster, error) {
	t.Helper()
	o := Defaults(dir)
	o.Zones, o.OnDemandPerZone, o.SpotPerZone, o.Webhook = []string{"zone-a"}, 1, 0, false
	if modify != nil {
		modify(&o)
	}
	return Start(ctx, o)
}

// A cluster's directory keeps the logs of its pods after they are deleted
// and after the cluster stopped; starting again there is refused unless
// Recreate, which removes only sparkplane's files. Ctrl-C during start-up
// says so and frees the directory.
func TestClusterDirectoryKeepsStateUntilRecreate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control planes (skipped with -short)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not on PATH (the process kubelet needs Spark)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	c, err := startSmall(t, ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pods := c.Client.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Spec: corev1.PodSpec{
		NodeName: "zone-a-on-demand-0", Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		c.Stop()
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, "keep", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
	if err == nil {
		err = pods.Delete(ctx, "keep", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}
	if err == nil {
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := pods.Get(ctx, "keep", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	}
	c.Stop()
	if err != nil {
		t.Fatalf("pod keep: %v", err)
	}
	logPath, err := LogFile(dir, "default", "keep")
	if err != nil {
		t.Fatalf("log of the deleted pod after the cluster stopped: %v", err)
	}

	// Started again: refused, the log stays.
	if _, err := startSmall(t, ctx, dir, nil); !errors.Is(err, ErrClusterExists) {
		t.Fatalf("second start in the same directory: %v, want ErrClusterExists", err)
	}
	if _, err := os.Stat(logPath); err != nil {
		t.Fatalf("refused start lost the pod log: %v", err)
	}

	// Ctrl-C during start-up.
	intCtx, cancel := context.WithCancel(ctx)
	time.AfterFunc(time.Second, cancel)
	if _, err := startSmall(t, intCtx, dir, func(o *Options) { o.Recreate = true }); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("start-up interrupted: %v, want %v", err, ErrInterrupted)
	} else if err.Error() != "interrupted during start-up; stopped everything started" {
		t.Errorf("interrupted start-up says %q", err)
	}
	if running, _ := Running(dir); running {
		t.Error("directory still locked after an interrupted start-up")
	}

	// Recreate: sparkplane's files go, the user's stay; the webhook is
	// registered as the chart registers it.
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	c, err = startSmall(t, ctx, dir, func(o *Options) { o.Recreate, o.Webhook, o.Progress = true, true, &progress })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for _, want := range []string{"s] finding Spark", "s] starting etcd, kube-apiserver and kube-scheduler", "s] webhook registered", "s] starting 1 static nodes", "s] 1 static nodes up"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("start-up progress lacks %q:\n%s", want, progress.String())
		}
	}
	if _, err := LogFile(dir, "default", "keep"); err == nil {
		t.Error("recreated cluster still has the earlier cluster's pod log")
	}
	if _, err := os.Stat(notes); err != nil {
		t.Errorf("recreate removed the user's file: %v", err)
	}
	if fi, err := os.Stat(ComponentLogPath(dir)); err != nil || fi.Size() == 0 {
		t.Errorf("component log in the cluster directory: %v", err)
	}
	whc, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "sparkplane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w := whc.Webhooks[0]; w.Name != "pods.sparkplane.io" || ptr.Deref(w.FailurePolicy, "") != admissionregistrationv1.Ignore {
		t.Errorf("webhook %s failurePolicy %v, want the chart's pods.sparkplane.io and Ignore", w.Name, ptr.Deref(w.FailurePolicy, ""))
	}
}

// Interrupting a static node cordons it, evicts its pods (the process
// kubelet finishes their graceful deletion), deletes the node and records
// it as gone.
func TestInterruptStaticNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane (skipped with -short)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not on PATH (the process kubelet needs Spark)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := startSmall(t, ctx, t.TempDir(), func(o *Options) { o.SpotPerZone = 1 })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	const node = "zone-a-spot-0"
	pods := c.Client.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "victim"}, Spec: corev1.PodSpec{
		NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	}); err != nil {
		t.Fatalf("pod never ran: %v", err)
	}
	var progress strings.Builder
	res, err := c.Interrupt(ctx, node, InterruptOptions{Notice: 30 * time.Second, Progress: &progress})
	if err != nil {
		t.Fatalf("Interrupt: %v\n%s", err, progress.String())
	}
	if res.NodeClaim != "" || len(res.Evicted) != 1 || res.Evicted[0] != "default/victim" || len(res.Killed) != 0 {
		t.Errorf("result %+v, want default/victim evicted, none lost, no NodeClaim", res)
	}
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node %s after the interruption: %v, want it deleted", node, err)
	}
	for _, n := range c.Nodes() {
		if n.Name == node {
			t.Errorf("Nodes() still lists %s", node)
		}
	}
	gone := false
	for _, n := range c.AllNodes() {
		gone = gone || (n.Name == node && !n.Deleted.IsZero())
	}
	if !gone {
		t.Errorf("AllNodes() does not record %s as deleted: %+v", node, c.AllNodes())
	}
	for _, want := range []string{"interruption notice for zone-a-spot-0: cordoning it and evicting its 1 pods", "node zone-a-spot-0 removed: 1 pods evicted, 0 lost"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
}
