package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/sparkdist"
)

// testEnv is the control plane shared by the integration tests of this
// package; it starts on first use, so unit tests run without it.
type testEnv struct {
	once       sync.Once
	cp         *controlplane.ControlPlane
	kubeconfig string
	logPath    string
	dir        string
	err        error
}

var env testEnv

func TestMain(m *testing.M) {
	code := m.Run()
	if env.cp != nil {
		env.cp.Stop()
	}
	if env.dir != "" {
		_ = os.RemoveAll(env.dir)
	}
	os.Exit(code)
}

// controlPlane returns the shared control plane (with a scheduler),
// starting it on first use.
func controlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a control plane (skipped with -short)")
	}
	env.once.Do(func() {
		env.dir, env.err = os.MkdirTemp("", "sparkplane-kubelet-test-")
		if env.err != nil {
			return
		}
		env.logPath = filepath.Join(env.dir, "controlplane.log")
		logFile, err := os.Create(env.logPath)
		if err != nil {
			env.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		env.cp, env.err = controlplane.Start(ctx, controlplane.Options{Scheduler: true, LogWriter: logFile})
		if env.err != nil {
			return
		}
		env.kubeconfig = filepath.Join(env.dir, "kubeconfig")
		env.err = env.cp.WriteKubeconfig(env.kubeconfig)
	})
	if env.err != nil {
		t.Fatalf("starting control plane: %v (log: %s)", env.err, env.logPath)
	}
	return env.cp
}

// runningKubelet is a kubelet started by startKubelet.
type runningKubelet struct {
	*Kubelet
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// startKubelet creates the node and runs a kubelet for it until the test
// ends (or the caller cancels it).
func startKubelet(t *testing.T, cp *controlplane.ControlPlane, spec controlplane.NodeSpec, ips *IPPool, dist *sparkdist.Dist) *runningKubelet {
	t.Helper()
	ctx := context.Background()
	if spec.CPU == "" {
		spec.CPU, spec.Memory = "8", "32Gi"
	}
	if _, err := cp.CreateNode(ctx, spec); err != nil {
		t.Fatalf("creating node: %v", err)
	}
	dir := t.TempDir()
	k := New(Options{
		NodeName:   spec.Name,
		Client:     cp.Client,
		Dir:        dir,
		IPs:        ips,
		Spark:      dist,
		Kubeconfig: env.kubeconfig,
		Log:        testr.NewWithOptions(t, testr.Options{Verbosity: 1}),
	})
	runCtx, cancel := context.WithCancel(ctx)
	rk := &runningKubelet{Kubelet: k, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { rk.done <- k.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-rk.done:
			if err != nil && !errors.Is(err, ErrNodeDeleted) {
				t.Errorf("kubelet %s: Run: %v", spec.Name, err)
			}
			rk.done <- err // for later readers
		case <-time.After(30 * time.Second):
			t.Errorf("kubelet %s did not stop within 30s", spec.Name)
		}
		err := cp.Client.CoreV1().Nodes().Delete(context.Background(), spec.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting node %s: %v", spec.Name, err)
		}
	})
	return rk
}

// waitPod polls the pod until cond holds.
func waitPod(t *testing.T, cp *controlplane.ControlPlane, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cp.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: not %s within %v; last seen: %s", ns, name, what, timeout, describePod(last))
	}
	return last
}

// waitPodGone polls until the pod no longer exists.
func waitPodGone(t *testing.T, cp *controlplane.ControlPlane, ns, name string, timeout time.Duration) {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cp.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		last = p
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s still exists after %v: %s", ns, name, timeout, describePod(last))
	}
}

func describePod(p *corev1.Pod) string {
	if p == nil {
		return "<none>"
	}
	return fmt.Sprintf("phase=%s node=%q ip=%q deleting=%v reason=%q message=%q containers=%+v",
		p.Status.Phase, p.Spec.NodeName, p.Status.PodIP, p.DeletionTimestamp != nil, p.Status.Reason, p.Status.Message, p.Status.ContainerStatuses)
}
