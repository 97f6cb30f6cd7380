package localcluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/sparkdist"
)

// EnvKarpenterBinary names a prebuilt Karpenter (KWOK provider) binary to
// run instead of building one with hack/karpenter.sh; its CRDs are read from
// the crds directory next to it.
const EnvKarpenterBinary = "SPARKPLANE_KARPENTER"

// Resources of Karpenter's API that the local cluster reads and writes.
var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	NodePoolGVR  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	NodeClaimGVR = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	NodeClassGVR = schema.GroupVersionResource{Group: karpenter.NodeClassGroup, Version: "v1alpha1", Resource: "kwoknodeclasses"}
)

// BuildKarpenter returns the Karpenter binary to run: $SPARKPLANE_KARPENTER
// if set, else the one hack/karpenter.sh builds (once, into .cache/; its
// progress lines are copied to progress). It needs the sparkplane
// repository (found from the working directory) unless the variable is set.
func BuildKarpenter(ctx context.Context, progress io.Writer) (string, error) {
	if bin := os.Getenv(EnvKarpenterBinary); bin != "" {
		if err := checkKarpenterBinary(bin); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvKarpenterBinary, bin, err)
		}
		return bin, nil
	}
	bin, err := sparkdist.RunRepoScript(ctx, progress, "karpenter.sh")
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("building Karpenter: %w; run from the sparkplane repository (hack/karpenter.sh builds it) or set %s to a built binary", err, EnvKarpenterBinary)
	}
	script := "hack/karpenter.sh"
	if err := checkKarpenterBinary(bin); err != nil {
		return "", fmt.Errorf("%s printed %q: %w", script, bin, err)
	}
	return bin, nil
}

// KarpenterCRDDir is where the CRDs of a Karpenter binary are: hack/karpenter.sh
// puts them in crds/ next to it.
func KarpenterCRDDir(bin string) string { return filepath.Join(filepath.Dir(bin), "crds") }

func checkKarpenterBinary(bin string) error {
	fi, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("no Karpenter binary: %w", err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", bin)
	}
	for _, f := range karpenter.CRDFiles() {
		if _, err := os.Stat(filepath.Join(KarpenterCRDDir(bin), f)); err != nil {
			return fmt.Errorf("the CRD %s of Karpenter is not next to the binary (hack/karpenter.sh copies them into %s): %w", f, KarpenterCRDDir(bin), err)
		}
	}
	return nil
}

// lastLines keeps the end of a long output for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ApplyKarpenterCRDs creates (or leaves, if present) the CRDs Karpenter
// needs from dir and waits until the API server serves them.
func ApplyKarpenterCRDs(ctx context.Context, dyn dynamic.Interface, dir string) error {
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
		if _, err := dyn.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s from %s: %w", u.GetName(), f, err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
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

// ApplyNodeClassAndPools renders and creates a KWOKNodeClass and the
// NodePools (each names its class; pools that name none get class's).
func ApplyNodeClassAndPools(ctx context.Context, dyn dynamic.Interface, class karpenter.NodeClassOptions, pools []karpenter.NodePoolOptions) error {
	nc, err := karpenter.RenderNodeClass(class)
	if err != nil {
		return err
	}
	objs := []struct {
		gvr schema.GroupVersionResource
		obj any
	}{{NodeClassGVR, nc}}
	for _, p := range pools {
		if p.NodeClass == "" {
			p.NodeClass = class.Name
		}
		np, err := karpenter.RenderNodePool(p)
		if err != nil {
			return err
		}
		objs = append(objs, struct {
			gvr schema.GroupVersionResource
			obj any
		}{NodePoolGVR, np})
	}
	for _, o := range objs {
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

// KarpenterProcessOptions configure StartKarpenter.
type KarpenterProcessOptions struct {
	Binary, Kubeconfig, InstanceTypesFile string
	// LogPath receives Karpenter's output (created or truncated).
	LogPath string
	// LogLevel is Karpenter's LOG_LEVEL (default info).
	LogLevel string
}

// KarpenterProcess is Karpenter running as a child process.
type KarpenterProcess struct {
	cmd     *exec.Cmd
	log     *os.File
	LogPath string
	// Version is the release it was built from (its cache directory's name).
	Version string
	exited  chan struct{}
	waitErr error
}

// StartKarpenter starts Karpenter with the environment its KWOK provider
// reads (leader election off, metrics and health probe on free ports), in
// a process group of its own, and waits until its health probe answers.
// On error nothing is left running.
func StartKarpenter(ctx context.Context, o KarpenterProcessOptions) (*KarpenterProcess, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if err := os.MkdirAll(filepath.Dir(o.LogPath), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(o.LogPath)
	if err != nil {
		return nil, fmt.Errorf("creating Karpenter's log: %w", err)
	}
	cmd := exec.Command(o.Binary)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+o.Kubeconfig,
		"DISABLE_LEADER_ELECTION=true",
		"METRICS_PORT="+strconv.Itoa(ports[0]),
		"HEALTH_PROBE_PORT="+strconv.Itoa(ports[1]),
		"INSTANCE_TYPES_FILE_PATH="+o.InstanceTypesFile,
		"LOG_LEVEL="+o.LogLevel,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Stop ends it and anything it started, and a
	// Ctrl-C meant for sparkplane reaches it only through Stop. Pdeathsig:
	// if this process dies without stopping it (SIGKILL, a test binary's
	// timeout panic), the kernel kills Karpenter too instead of leaving it
	// running against a control plane that is gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting Karpenter %s: %w", o.Binary, err)
	}
	k := &KarpenterProcess{cmd: cmd, log: logf, LogPath: o.LogPath, Version: filepath.Base(filepath.Dir(o.Binary)), exited: make(chan struct{})}
	go func() { k.waitErr = cmd.Wait(); close(k.exited) }()

	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[1])
	client := &http.Client{Timeout: time.Second}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		select {
		case <-k.exited:
			return false, fmt.Errorf("the Karpenter process exited: %v; the end of its log:\n%s", k.waitErr, tail(o.LogPath, 10))
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
		_ = k.Stop()
		return nil, fmt.Errorf("the Karpenter process %s did not become healthy at %s (log: %s): %w", o.Binary, healthz, o.LogPath, err)
	}
	return k, nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return lastLines(string(data), n)
}

// Stop ends Karpenter (SIGTERM to its process group, SIGKILL after 10s) and
// waits for it. Whatever is left in its process group once it has exited
// (a child of a binary that failed, say) is killed.
func (k *KarpenterProcess) Stop() error {
	defer k.log.Close()
	// The group keeps its id while any member lives, so this reaches only
	// what Karpenter started.
	defer func() { _ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL) }()
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
	return fmt.Errorf("the Karpenter process ignored SIGTERM for 10s and was killed (log: %s)", k.LogPath)
}

// Running says whether the process is still up.
func (k *KarpenterProcess) Running() bool {
	select {
	case <-k.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the process has ended.
func (k *KarpenterProcess) Exited() <-chan struct{} { return k.exited }

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
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
