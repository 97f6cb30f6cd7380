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
	for _, want := range []string{"s] finding Spark", "s] starting etcd, kube-apiserver and kube-scheduler", "s] webhook registered", "s] starting 1 nodes", "s] nodes up"} {
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
