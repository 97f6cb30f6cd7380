package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/cli"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
)

// fieldManager is the server-side apply field manager of every apply here.
const fieldManager = "helm-test"

// crdKinds are kinds the chart renders that need CRDs the test API server
// does not have (cert-manager, prometheus-operator). applyRendered skips
// exactly these, and says so; any other unknown kind fails the test.
var crdKinds = map[schema.GroupKind]string{
	{Group: "cert-manager.io", Kind: "Certificate"}:          "cert-manager's CRDs are not installed on the test API server",
	{Group: "cert-manager.io", Kind: "Issuer"}:               "cert-manager's CRDs are not installed on the test API server",
	{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}: "prometheus-operator's CRDs are not installed on the test API server",
}

// helmRun runs helm with args and returns its combined output.
func helmRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(shared.helm, args...)
	// A kubeconfig-free helm: template and lint never need a cluster.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// release is one rendered installation of the chart.
type release struct {
	name, namespace string
	objs            []*unstructured.Unstructured
}

// render runs helm template for release name in namespace with extra helm
// flags (e.g. "--set", "k=v") and parses the manifests.
func render(t *testing.T, name, namespace string, flags ...string) *release {
	t.Helper()
	args := append([]string{"template", name, chartDir, "--namespace", namespace}, flags...)
	out, err := helmRun(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	objs, err := parseManifests(out)
	if err != nil {
		t.Fatalf("parsing the output of helm %s: %v", strings.Join(args, " "), err)
	}
	return &release{name: name, namespace: namespace, objs: objs}
}

func parseManifests(s string) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(s)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(data)); s == "null" || s == "{}" {
			continue // a document of comments only
		}
		// Decoding JSON through Unstructured keeps integers int64.
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(data); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
}

// get returns the rendered object of kind with name; it fails the test if
// there is none.
func (r *release) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o.DeepCopy()
		}
	}
	t.Fatalf("release %s renders no %s %q", r.name, kind, name)
	return nil
}

func (r *release) has(kind, name string) bool {
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetName() == name {
			return true
		}
	}
	return false
}

// typed converts a rendered object into a typed API object.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("converting %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// fullname is the chart's resource name prefix for a release (the chart's
// default: the release name when it contains "sparkplane").
func (r *release) fullname() string { return r.name }

// deployment returns the rendered Deployment <fullname>-<component>.
func (r *release) deployment(t *testing.T, component string) *appsv1.Deployment {
	return typed[appsv1.Deployment](t, r.get(t, "Deployment", r.fullname()+"-"+component))
}

// serviceAccountUser is the user name of the ServiceAccount a rendered
// Deployment runs as, as the API server authenticates its token.
func (r *release) serviceAccountUser(t *testing.T, component string) string {
	return "system:serviceaccount:" + r.namespace + ":" + r.deployment(t, component).Spec.Template.Spec.ServiceAccountName
}

// apply server-side applies the rendered objects (after edit, if given),
// creating the release namespace first like helm install --create-namespace.
// It returns the objects skipped because their CRDs are missing, with why,
// and deletes the cluster-scoped objects at cleanup (namespaced ones go
// with their namespace's test; the MutatingWebhookConfiguration especially
// must not outlive the test, or later pod creations would call it).
func (r *release) apply(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	cp := shared.cp
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.namespace}}
	if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", r.namespace, err)
	}
	dyn, mapper := dynamicClient(t)
	var skipped []string
	for _, o := range r.objs {
		gvk := o.GroupVersionKind()
		if why, ok := crdKinds[gvk.GroupKind()]; ok {
			skipped = append(skipped, fmt.Sprintf("%s %s: %s", gvk.Kind, o.GetName(), why))
			continue
		}
		ri := resourceFor(t, dyn, mapper, o)
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			t.Fatalf("server-side apply of %s %s/%s rejected by the API server: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
		if o.GetNamespace() == "" {
			t.Cleanup(func() { _ = ri.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{}) })
		}
	}
	return skipped
}

func dynamicClient(t *testing.T) (dynamic.Interface, meta.RESTMapper) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(shared.cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := kubernetes.NewForConfig(shared.cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc.Discovery()))
}

func resourceFor(t *testing.T, dyn dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := o.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("the API server does not serve %s (%s %s): %v", gvk, gvk.Kind, o.GetName(), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() == "" {
			t.Fatalf("namespaced %s %s is rendered without a namespace", gvk.Kind, o.GetName())
		}
		return dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	return dyn.Resource(m.Resource)
}

// applyOne server-side applies a single (edited) object.
func applyOne(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	dyn, mapper := dynamicClient(t)
	if _, err := resourceFor(t, dyn, mapper, o).Apply(context.Background(), o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		t.Fatalf("server-side apply of %s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

// impersonating is the admin config acting as user (a ServiceAccount's
// user name gets the ServiceAccount groups from the API server).
func impersonating(cfg *rest.Config, user string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	return c
}

// kubeconfigAs writes a kubeconfig that impersonates user and returns its path.
func kubeconfigAs(t *testing.T, user string) string {
	t.Helper()
	cfg, err := shared.cp.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func clientAs(t *testing.T, user string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(impersonating(shared.cp.Config, user))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// replaceArgs returns the container args with the value of each flag in
// repl replaced (flags rendered as --name=value); it fails the test if a
// flag is not among the args, so the test follows the chart.
func replaceArgs(t *testing.T, args []string, repl map[string]string) []string {
	t.Helper()
	out := append([]string(nil), args...)
	for flag, value := range repl {
		found := false
		for i, a := range out {
			if strings.HasPrefix(a, flag+"=") {
				out[i] = flag + "=" + value
				found = true
			}
		}
		if !found {
			t.Fatalf("the rendered args %q have no %s", args, flag)
		}
	}
	return out
}

// command is a sparkplane command running in this process.
type command struct {
	out  *syncBuffer
	done chan error
	stop context.CancelFunc
}

// runCommand runs `sparkplane args...` (cli.NewRootCommand) until the test
// ends or it exits.
func runCommand(t *testing.T, args []string) *command {
	t.Helper()
	cmd := cli.NewRootCommand()
	c := &command{out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.SetOut(c.out)
	cmd.SetErr(c.out)
	cmd.SetArgs(args)
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go func() { c.done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			t.Errorf("sparkplane %s did not stop within 30s", args[0])
		}
	})
	return c
}

// runProcess runs `sparkplane args...` as a child process (this test binary,
// see childEnv) until the test ends, then stops it with SIGTERM.
func runProcess(t *testing.T, args []string) *command {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &command{out: &syncBuffer{}, done: make(chan error, 1), stop: func() {}}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("sparkplane %s did not stop within 30s of SIGTERM", args[0])
		}
	})
	return c
}

// exited reports whether the command has exited, and its error.
func (c *command) exited() (bool, error) {
	select {
	case err := <-c.done:
		c.done <- err // keep it for exitErr and cleanup
		return true, err
	default:
		return false, nil
	}
}

// exitErr waits for the command to exit and returns its error.
func (c *command) exitErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // keep it for cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatalf("command still running after a minute; output:\n%s", c.out.String())
		return nil
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond every 200ms for up to a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// createNodes creates one node per zone (labels: hostname, zone, and the
// Karpenter capacity type) and deletes them at cleanup; names are unique
// to the test.
func createNodes(t *testing.T, capacity string, zones ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	nodes := map[string]string{} // zone -> node
	for _, z := range zones {
		name := strings.ToLower(fmt.Sprintf("%s-%s", strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()), z))
		if len(name) > 63 {
			name = name[len(name)-63:]
		}
		name = strings.Trim(name, "-")
		spec := controlplane.NodeSpec{Name: name, Zone: z, CPU: "16", Memory: "64Gi", Labels: map[string]string{"karpenter.sh/capacity-type": capacity}}
		if _, err := shared.cp.CreateNode(ctx, spec); err != nil {
			t.Fatalf("creating node %s: %v", name, err)
		}
		nodes[z] = name
		t.Cleanup(func() {
			_ = shared.cp.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	return nodes
}

// bind binds a pod to a node as the scheduler would.
func bind(t *testing.T, namespace, pod, node string) {
	t.Helper()
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := shared.cp.Client.CoreV1().Pods(namespace).Bind(context.Background(), b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("binding %s/%s to %s: %v", namespace, pod, node, err)
	}
}

// registerLoopback applies the rendered MutatingWebhookConfiguration with
// only clientConfig changed, from the Service to url with caBundle: its
// selectors, failurePolicy, timeout and reinvocation policy stay as
// rendered.
func registerLoopback(t *testing.T, r *release, url string, caBundle []byte) *unstructured.Unstructured {
	t.Helper()
	mwc := r.get(t, "MutatingWebhookConfiguration", r.fullname())
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	if len(hooks) == 0 {
		t.Fatal("the rendered MutatingWebhookConfiguration has no webhooks")
	}
	for i := range hooks {
		h := hooks[i].(map[string]any)
		cc := h["clientConfig"].(map[string]any)
		svc := cc["service"].(map[string]any)
		delete(cc, "service")
		cc["url"] = url + svc["path"].(string)
		cc["caBundle"] = base64.StdEncoding.EncodeToString(caBundle)
	}
	if err := unstructured.SetNestedSlice(mwc.Object, hooks, "webhooks"); err != nil {
		t.Fatal(err)
	}
	applyOne(t, mwc)
	t.Cleanup(func() {
		_ = shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mwc.GetName(), metav1.DeleteOptions{})
	})
	return mwc
}

// writeFile writes data to name in a new temporary directory.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(i int) string { return strconv.Itoa(i) }
