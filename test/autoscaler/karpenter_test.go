package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
)

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	nodePoolGVR  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	nodeClaimGVR = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	nodeClassGVR = schema.GroupVersionResource{Group: karpenter.NodeClassGroup, Version: "v1alpha1", Resource: "kwoknodeclasses"}
)

// applyCRDs creates the CRDs pkg/karpenter lists from dir and waits until
// the API server serves them.
func applyCRDs(ctx context.Context, dyn dynamic.Interface, dir string) error {
	var names []string
	for _, f := range karpenter.CRDFiles() {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("reading Karpenter's CRD (rebuild with hack/karpenter.sh): %w", err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			return fmt.Errorf("parsing %s: %w", f, err)
		}
		if _, err := dyn.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating CRD %s from %s: %w", u.GetName(), f, err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", name, err)
		}
	}
	return nil
}

// applyPoolAndClass creates the KWOKNodeClass and a NodePool that may launch
// spot and on-demand nodes in every zone.
func applyPoolAndClass(ctx context.Context, dyn dynamic.Interface) error {
	nc, err := karpenter.RenderNodeClass(karpenter.NodeClassOptions{Name: nodeClass})
	if err != nil {
		return err
	}
	np, err := karpenter.RenderNodePool(karpenter.NodePoolOptions{
		Name: nodePool, NodeClass: nodeClass,
		ConsolidationPolicy: karpenter.ConsolidateWhenEmpty, ConsolidateAfter: "Never",
	})
	if err != nil {
		return err
	}
	for _, o := range []struct {
		gvr schema.GroupVersionResource
		obj any
	}{{nodeClassGVR, nc}, {nodePoolGVR, np}} {
		u, err := karpenter.ToUnstructured(o.obj)
		if err != nil {
			return err
		}
		if _, err := dyn.Resource(o.gvr).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// karpenterProcess is Karpenter running as a child process.
type karpenterProcess struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	version string
	exited  chan struct{}
	waitErr error
}

// startKarpenter starts bin with the environment the KWOK provider reads,
// its metrics and health ports free loopback ports, its output in logPath,
// and waits until its health probe answers.
func startKarpenter(ctx context.Context, bin, kubeconfig, instanceTypes, logPath string) (*karpenterProcess, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+kubeconfig,
		"DISABLE_LEADER_ELECTION=true",
		"METRICS_PORT="+strconv.Itoa(ports[0]),
		"HEALTH_PROBE_PORT="+strconv.Itoa(ports[1]),
		"INSTANCE_TYPES_FILE_PATH="+instanceTypes,
		"LOG_LEVEL=debug",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so stop can end it and anything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting Karpenter %s: %w", bin, err)
	}
	k := &karpenterProcess{cmd: cmd, log: logf, logPath: logPath, version: filepath.Base(filepath.Dir(bin)), exited: make(chan struct{})}
	go func() { k.waitErr = cmd.Wait(); close(k.exited) }()

	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[1])
	client := &http.Client{Timeout: time.Second}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		select {
		case <-k.exited:
			return false, fmt.Errorf("exited: %v", k.waitErr)
		default:
		}
		resp, err := client.Get(healthz)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		_ = k.stop()
		return nil, fmt.Errorf("Karpenter did not become healthy at %s (log: %s): %w", healthz, logPath, err)
	}
	return k, nil
}

// stop ends Karpenter (SIGTERM, then SIGKILL after 10s) and waits for it.
func (k *karpenterProcess) stop() error {
	defer k.log.Close()
	select {
	case <-k.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-k.exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
	<-k.exited
	return fmt.Errorf("Karpenter ignored SIGTERM for 10s and was killed (log: %s)", k.logPath)
}

// running says whether the process is still up.
func (k *karpenterProcess) running() bool {
	select {
	case <-k.exited:
		return false
	default:
		return true
	}
}

// freePorts returns n distinct free TCP ports on the loopback interface.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// markKWOKNodesReady stands in for the kubelets: it sets Ready=True on every
// node the KWOK provider created, until ctx ends.
func markKWOKNodesReady(ctx context.Context, client kubernetes.Interface) {
	_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: karpenter.LabelKWOKNode})
		if err != nil {
			return false, nil
		}
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if isReady(n) || !strings.HasPrefix(n.Spec.ProviderID, karpenter.ProviderIDPrefix) {
				continue
			}
			now := metav1.Now()
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "test stand-in for a kubelet", LastHeartbeatTime: now, LastTransitionTime: now,
			})
			if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "marking node %s Ready: %v\n", n.Name, err)
			}
		}
		return false, nil
	})
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
