package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/spark"
	"github.com/sparkplane/sparkplane/pkg/sparkdist"
)

// ErrNodeDeleted is returned by Run when the kubelet's Node object was
// deleted: its pods have been killed and deleted.
var ErrNodeDeleted = errors.New("node deleted")

const (
	// workers is how many pods are synced at once.
	workers = 4
	// shutdownGrace is how long processes get between SIGTERM and SIGKILL
	// when Run ends.
	shutdownGrace = 5 * time.Second
	// defaultGrace applies to a deleted pod without a grace period.
	defaultGrace = 30 * time.Second
	// waitingAfterRetries is how many failed attempts to start a pod pass
	// before its status says why it waits (the driver's ConfigMap usually
	// appears within one retry).
	waitingAfterRetries = 3
)

// Options configure a Kubelet.
type Options struct {
	// NodeName is the Node this kubelet runs pods for. The Node must exist
	// when Run starts.
	NodeName string
	Client   kubernetes.Interface
	// Dir is this node's working directory; each pod gets
	// PodDir(Dir, namespace, name), created when the pod starts, holding
	// its volumes, hosts file, working directory and container.log (the
	// process's stdout and stderr). It is kept after the pod ends; a later
	// pod of the same name moves it to PodDir(...)+"."+<its UID>.
	Dir string
	// IPs hands out pod IPs; one pool is shared by all kubelets of a cluster.
	IPs *IPPool
	// Spark runs driver and executor pods; nil makes Spark pods fail with
	// reason SparkNotAvailable.
	Spark *sparkdist.Dist
	// Kubeconfig is given to driver processes as KUBECONFIG, so Spark's
	// Kubernetes client reaches the apiserver.
	Kubeconfig string
	Log        logr.Logger
}

// Kubelet runs the pods bound to one virtual node as local processes.
//
// Spark driver and executor pods run as real processes, translated from the
// container spec the way Spark's image entrypoint does (see buildCommand),
// each on a loopback IP of its own with a hosts file that stands in for
// cluster DNS. All other pods are marked Running without executing
// anything: there is no container runtime, and such pods (placeholders,
// the demo's pods) only need to occupy their node. Pods that use Secrets
// fail: this kubelet never reads Secrets.
type Kubelet struct {
	opts     Options
	log      logr.Logger
	hostname string
	host     []envVar

	queue       workqueue.TypedRateLimitingInterface[string]
	pods        corelisters.PodLister // pods bound to this node
	allPods     corelisters.PodLister // every pod, for Service endpoints
	services    corelisters.ServiceLister
	nodes       corelisters.NodeLister
	hostsDirty  chan struct{}
	nodeDeleted chan struct{}
	deleteOnce  sync.Once

	mu      sync.Mutex
	running map[string]*podRuntime // by namespace/name
	hostsMu sync.Mutex             // serialises hosts file writes
}

// podRuntime is what the kubelet keeps about a pod it has started.
type podRuntime struct {
	uid       types.UID
	pod       *corev1.Pod // as it was started
	ip        netip.Addr
	dir       string
	hostsFile string   // "" when nothing is executed
	proc      *process // nil when nothing is executed
	startedAt metav1.Time

	// Guarded by Kubelet.mu.
	reported    corev1.PodPhase // last phase written to the API
	terminating bool
	released    bool
	hosts       []byte // guarded by hostsMu: last hosts file written
}

// New returns a kubelet for opts.NodeName; Run starts it.
func New(opts Options) *Kubelet {
	if opts.IPs == nil {
		opts.IPs = NewIPPool()
	}
	hostname, _ := os.Hostname()
	var host []envVar
	for _, name := range []string{"PATH", "JAVA_HOME", "HOME", "LANG", "TMPDIR"} {
		if v, ok := os.LookupEnv(name); ok {
			host = append(host, envVar{name, v})
		}
	}
	return &Kubelet{
		opts:     opts,
		log:      opts.Log.WithValues("node", opts.NodeName),
		hostname: hostname,
		host:     host,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "kubelet-" + opts.NodeName}),
		hostsDirty:  make(chan struct{}, 1),
		nodeDeleted: make(chan struct{}),
		running:     map[string]*podRuntime{},
	}
}

// PodDir returns where a pod's files and container.log live.
func PodDir(nodeDir, namespace, name string) string {
	return filepath.Join(nodeDir, "pods", namespace, name)
}

// LogFile is the name of the container log inside a pod's directory.
const LogFile = "container.log"

// Run watches the pods bound to the node (field selector spec.nodeName)
// and the Node itself, keeps the node's Lease in kube-node-lease and its
// Ready condition fresh, and runs pods until ctx ends; then it stops every
// process it started (SIGTERM, SIGKILL after a few seconds) and returns
// nil. If the Node is deleted (a spot interruption), it kills all its pods'
// processes at once, deletes the pods and returns ErrNodeDeleted. Run may
// be called once.
func (k *Kubelet) Run(ctx context.Context) error {
	if k.opts.NodeName == "" || k.opts.Client == nil || k.opts.Dir == "" {
		return errors.New("kubelet: NodeName, Client and Dir are required")
	}
	node, err := k.opts.Client.CoreV1().Nodes().Get(ctx, k.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("kubelet %s: getting its Node (create it before starting the kubelet): %w", k.opts.NodeName, err)
	}
	if err := os.MkdirAll(k.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("kubelet %s: %w", k.opts.NodeName, err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	client := k.opts.Client
	nodePods := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.opts.NodeName).String()
	}))
	thisNode := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", k.opts.NodeName).String()
	}))
	cluster := informers.NewSharedInformerFactory(client, 0)

	podInformer := nodePods.Core().V1().Pods()
	nodeInformer := thisNode.Core().V1().Nodes()
	allPodInformer := cluster.Core().V1().Pods()
	serviceInformer := cluster.Core().V1().Services()
	k.pods = podInformer.Lister()
	k.nodes = nodeInformer.Lister()
	k.allPods = allPodInformer.Lister()
	k.services = serviceInformer.Lister()

	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	markHosts := func(any) { k.markHostsDirty() }
	handlers := []struct {
		informer cache.SharedIndexInformer
		h        cache.ResourceEventHandler
	}{
		{podInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue}},
		{allPodInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: markHosts, UpdateFunc: func(_, o any) { markHosts(o) }, DeleteFunc: markHosts}},
		{serviceInformer.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: markHosts, UpdateFunc: func(_, o any) { markHosts(o) }, DeleteFunc: markHosts}},
		{nodeInformer.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok && n.UID != node.UID {
				return
			}
			k.deleteOnce.Do(func() { close(k.nodeDeleted) })
		}}},
	}
	for _, h := range handlers {
		if _, err := h.informer.AddEventHandler(h.h); err != nil {
			return fmt.Errorf("kubelet %s: adding event handler: %w", k.opts.NodeName, err)
		}
	}
	for _, f := range []informers.SharedInformerFactory{nodePods, thisNode, cluster} {
		f.Start(runCtx.Done())
	}
	defer func() {
		cancel()
		for _, f := range []informers.SharedInformerFactory{nodePods, thisNode, cluster} {
			f.Shutdown()
		}
	}()
	for _, f := range []informers.SharedInformerFactory{nodePods, thisNode, cluster} {
		for typ, ok := range f.WaitForCacheSync(runCtx.Done()) {
			if !ok {
				return fmt.Errorf("kubelet %s: syncing %v informer: %w", k.opts.NodeName, typ, context.Cause(runCtx))
			}
		}
	}
	k.log.Info("Kubelet started", "dir", k.opts.Dir)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k.processNext(runCtx) {
			}
		})
	}
	wg.Go(func() { k.heartbeat(runCtx, node) })
	wg.Go(func() { k.hostsLoop(runCtx) })

	nodeDeleted := false
	select {
	case <-ctx.Done():
	case <-k.nodeDeleted:
		nodeDeleted = true
		k.log.Info("Node deleted: killing its pods")
		k.killAll() // at once; workers may still start one more, killed below
	}
	k.queue.ShutDown()
	cancel()
	wg.Wait()

	if nodeDeleted {
		k.killAll()
		k.deleteNodePods(context.WithoutCancel(ctx))
		return ErrNodeDeleted
	}
	k.stopAll()
	k.log.Info("Kubelet stopped")
	return nil
}

func (k *Kubelet) markHostsDirty() {
	select {
	case k.hostsDirty <- struct{}{}:
	default:
	}
}

func (k *Kubelet) processNext(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	err := k.syncPod(ctx, key)
	if err == nil {
		k.queue.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true
	}
	if errors.Is(err, errConfigMapMissing) {
		k.log.V(1).Info("Pod waits", "pod", key, "reason", err.Error())
	} else {
		k.log.Error(err, "Syncing pod", "pod", key)
	}
	k.queue.AddRateLimited(key)
	return true
}

// syncPod drives one pod towards what its API object asks for.
func (k *Kubelet) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := k.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		k.forget(key, "pod is gone")
		return nil
	}
	if err != nil {
		return err
	}
	k.mu.Lock()
	rt := k.running[key]
	k.mu.Unlock()
	if rt != nil && rt.uid != pod.UID {
		k.forget(key, "pod was replaced")
		rt = nil
	}

	if pod.DeletionTimestamp != nil {
		return k.syncDeleting(ctx, pod, rt)
	}
	if rt == nil {
		switch {
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			return nil // finished before this kubelet started
		case pod.Status.Phase == corev1.PodRunning && k.isSparkPod(pod):
			// Started by an earlier kubelet whose process is gone; a
			// Spark pod (restartPolicy Never) is not started twice.
			return k.fail(ctx, pod, "ProcessLost", "the kubelet that ran this pod's process stopped")
		}
		return k.start(ctx, key, pod)
	}
	return k.report(ctx, pod, rt)
}

func (k *Kubelet) isSparkPod(pod *corev1.Pod) bool {
	c, _ := sparkContainer(pod)
	return c != nil
}

// report writes the phase the runtime is in (Running, or Succeeded/Failed
// once the process ended) if it was not written yet, and releases the IP
// of a pod that ended.
func (k *Kubelet) report(ctx context.Context, pod *corev1.Pod, rt *podRuntime) error {
	want := corev1.PodRunning
	if rt.proc != nil && rt.proc.exited() {
		want = corev1.PodSucceeded
		if rt.proc.exitCode != 0 {
			want = corev1.PodFailed
		}
	}
	k.mu.Lock()
	done := rt.reported == want
	k.mu.Unlock()
	if done {
		return nil
	}
	var mutate func(*corev1.PodStatus)
	if want == corev1.PodRunning {
		mutate = setRunning(pod, rt.ip.String(), rt.startedAt)
	} else {
		mutate = k.exitStatus(pod, rt)
	}
	if err := k.updateStatus(ctx, pod, mutate); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // the informer reports the deletion next
		}
		return err
	}
	k.mu.Lock()
	rt.reported = want
	k.mu.Unlock()
	if want != corev1.PodRunning {
		k.log.Info("Pod finished", "pod", keyOf(pod), "phase", want, "exitCode", rt.proc.exitCode)
		k.releaseIP(rt)
	}
	return nil
}

// exitStatus is the final status of a pod whose process ended.
func (k *Kubelet) exitStatus(pod *corev1.Pod, rt *podRuntime) func(*corev1.PodStatus) {
	code := rt.proc.exitCode
	c, _ := sparkContainer(rt.pod)
	reason, podMsg, tail := "Completed", "", ""
	if code != 0 {
		reason = "Error"
		logPath := filepath.Join(rt.dir, LogFile)
		tail = logTail(logPath)
		podMsg = fmt.Sprintf("container %s exited with code %d", c.Name, code)
		if line := lastErrorLine(logPath); line != "" {
			podMsg += "; last error: " + line
		}
		podMsg += fmt.Sprintf("; last lines of %s:\n%s", logPath, tail)
	}
	return setTerminated(pod, int32(code), reason, podMsg, tail, rt.startedAt, metav1.NewTime(rt.proc.finishedAt))
}

// fail marks a pod that cannot run Failed with reason and message.
func (k *Kubelet) fail(ctx context.Context, pod *corev1.Pod, reason, message string) error {
	k.log.Info("Pod failed", "pod", keyOf(pod), "reason", reason, "message", message)
	now := metav1.Now()
	err := k.updateStatus(ctx, pod, setTerminated(pod, 128, reason, message, message, now, now))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// syncDeleting handles a pod with a deletionTimestamp: its process gets
// SIGTERM and, after the grace period, SIGKILL; once it has ended the pod
// is deleted with grace period 0, which confirms the deletion as a kubelet
// does.
func (k *Kubelet) syncDeleting(ctx context.Context, pod *corev1.Pod, rt *podRuntime) error {
	if rt != nil && rt.proc != nil && !rt.proc.exited() {
		k.mu.Lock()
		first := !rt.terminating
		rt.terminating = true
		k.mu.Unlock()
		if first {
			grace := defaultGrace
			if pod.DeletionGracePeriodSeconds != nil {
				grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
			}
			k.log.Info("Stopping pod", "pod", keyOf(pod), "grace", grace)
			go rt.proc.stop(grace) // its exit enqueues the pod again
		}
		return nil
	}
	if rt != nil && rt.proc != nil {
		// Best effort: the status of a terminating pod may still be written.
		if err := k.report(ctx, pod, rt); err != nil {
			k.log.V(1).Info("Final status of deleted pod", "pod", keyOf(pod), "err", err)
		}
	}
	err := k.opts.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", keyOf(pod), err)
	}
	k.forget(keyOf(pod), "pod deleted")
	return nil
}

// forget drops the runtime of a pod that is gone: its process is killed
// and its IP released once the process has ended.
func (k *Kubelet) forget(key, why string) {
	k.mu.Lock()
	rt := k.running[key]
	delete(k.running, key)
	k.mu.Unlock()
	if rt == nil {
		return
	}
	if rt.proc == nil || rt.proc.exited() {
		k.releaseIP(rt)
		return
	}
	k.log.Info("Killing process of pod", "pod", key, "why", why)
	_ = rt.proc.signal(sigkill)
	go func() {
		<-rt.proc.done
		k.releaseIP(rt)
	}()
	k.markHostsDirty()
}

func (k *Kubelet) releaseIP(rt *podRuntime) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !rt.released {
		rt.released = true
		k.opts.IPs.Release(rt.ip)
	}
}

// start starts a pod: Spark pods as processes, others only as a status.
func (k *Kubelet) start(ctx context.Context, key string, pod *corev1.Pod) error {
	if ref := secretReference(pod); ref != "" {
		f := secretsFailure(ref)
		return k.fail(ctx, pod, f.Reason, f.Message)
	}
	c, role := sparkContainer(pod)
	var rt *podRuntime
	var err error
	if c == nil {
		rt, err = k.startPlaceholder(pod)
	} else {
		rt, err = k.startSpark(ctx, pod, c, role)
	}
	var failure *podFailure
	switch {
	case errors.As(err, &failure):
		return k.fail(ctx, pod, failure.Reason, failure.Message)
	case errors.Is(err, errConfigMapMissing):
		if k.queue.NumRequeues(key) >= waitingAfterRetries {
			msg := err.Error()
			if waitingMessage(pod) != "CreateContainerConfigError: "+msg {
				if uerr := k.updateStatus(ctx, pod, setWaiting(pod, "CreateContainerConfigError", msg)); uerr != nil {
					k.log.V(1).Info("Writing waiting status", "pod", key, "err", uerr)
				}
			}
		}
		return err
	case err != nil:
		return err
	}
	k.mu.Lock()
	k.running[key] = rt
	k.mu.Unlock()
	k.markHostsDirty()
	k.log.Info("Pod started", "pod", key, "ip", rt.ip, "spark", role, "dir", rt.dir)
	return k.report(ctx, pod, rt)
}

// startPlaceholder gives a non-Spark pod an IP and a directory (whose
// container.log says why nothing runs); it executes nothing.
func (k *Kubelet) startPlaceholder(pod *corev1.Pod) (*podRuntime, error) {
	ip, err := k.opts.IPs.Allocate()
	if err != nil {
		return nil, err
	}
	dir := PodDir(k.opts.Dir, pod.Namespace, pod.Name)
	if err := podDir(dir, pod); err != nil {
		k.opts.IPs.Release(ip)
		return nil, err
	}
	note := "sparkplane local kubelet: not a Spark driver or executor pod; marked Running without executing anything\n"
	if err := os.WriteFile(filepath.Join(dir, LogFile), []byte(note), 0o644); err != nil {
		k.opts.IPs.Release(ip)
		return nil, fmt.Errorf("writing %s: %w", LogFile, err)
	}
	return &podRuntime{uid: pod.UID, pod: pod, ip: ip, dir: dir, startedAt: metav1.Now()}, nil
}

// uidFile in a pod directory names the pod (by UID) whose files it holds.
const uidFile = "uid"

// podDir prepares the directory of pod: a directory left by an earlier pod
// of the same name is kept (renamed <name>.<its uid>, log included) so its
// log stays readable; one left by an earlier start of this very pod (a
// retry) is cleared.
func podDir(dir string, pod *corev1.Pod) error {
	if _, err := os.Stat(dir); err == nil {
		old, _ := os.ReadFile(filepath.Join(dir, uidFile))
		if types.UID(old) == pod.UID {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("clearing pod directory: %w", err)
			}
		} else {
			kept := dir + "." + string(old)
			if len(old) == 0 {
				kept = fmt.Sprintf("%s.earlier-%d", dir, time.Now().UnixNano())
			}
			if err := os.Rename(dir, kept); err != nil {
				return fmt.Errorf("keeping the directory of an earlier pod named %s: %w", pod.Name, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating pod directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, uidFile), []byte(pod.UID), 0o644); err != nil {
		return fmt.Errorf("writing pod directory's uid: %w", err)
	}
	return nil
}

// startSpark starts the process of a Spark driver or executor pod.
func (k *Kubelet) startSpark(ctx context.Context, pod *corev1.Pod, c *corev1.Container, role spark.Role) (*podRuntime, error) {
	if k.opts.Spark == nil {
		return nil, &podFailure{Reason: "SparkNotAvailable", Message: "this kubelet has no Spark installation to run Spark pods with"}
	}
	var javaPath string
	if role == spark.RoleExecutor { // drivers find java through spark-submit
		var err error
		if javaPath, err = sparkdist.JavaPath(); err != nil {
			return nil, &podFailure{Reason: "JavaNotFound", Message: err.Error()}
		}
	}
	configMaps := map[string]*corev1.ConfigMap{}
	getConfigMap := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		cm, err := k.opts.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("configmap %q: %w", name, errConfigMapMissing)
		}
		if err != nil {
			return nil, fmt.Errorf("getting configmap %q: %w", name, err)
		}
		configMaps[name] = cm
		return cm, nil
	}
	var allocatable corev1.ResourceList
	if node, err := k.nodes.Get(k.opts.NodeName); err == nil {
		allocatable = node.Status.Allocatable
	}

	ip, err := k.opts.IPs.Allocate()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			k.opts.IPs.Release(ip)
		}
	}()
	env, err := resolveEnv(pod, c, envSource{PodIP: ip.String(), HostIP: HostIP, NodeAllocatable: allocatable, ConfigMap: getConfigMap})
	if err != nil {
		return nil, err
	}
	dir := PodDir(k.opts.Dir, pod.Namespace, pod.Name)
	if err := podDir(dir, pod); err != nil {
		return nil, err
	}
	workDir := filepath.Join(dir, "work")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating work dir: %w", err)
	}
	mounts, err := prepareVolumes(pod, c, dir, getConfigMap)
	if err != nil {
		return nil, err
	}
	rt := &podRuntime{uid: pod.UID, pod: pod, ip: ip, dir: dir, hostsFile: filepath.Join(dir, "hosts")}
	if err := k.writeHosts(rt); err != nil {
		return nil, err
	}
	in := commandInput{
		Role: role, Args: c.Args, Env: env, Mounts: mounts, Host: k.host,
		SparkHome: k.opts.Spark.Home, Python: k.opts.Spark.Python, Java: javaPath,
		WorkDir: workDir, HostsFile: rt.hostsFile, PodIP: ip.String(), Hostname: podHostname(pod),
	}
	if role == spark.RoleDriver {
		in.Kubeconfig = k.opts.Kubeconfig
	}
	cmd, err := buildCommand(in)
	if err != nil {
		return nil, &podFailure{Reason: "InvalidSparkPod", Message: err.Error()}
	}
	if err := writeCommandFile(filepath.Join(dir, "command"), cmd); err != nil {
		return nil, err
	}
	key := keyOf(pod)
	proc, err := startProcess(cmd, filepath.Join(dir, LogFile), func() { k.queue.Add(key) })
	if err != nil {
		return nil, &podFailure{Reason: "StartError", Message: err.Error()}
	}
	rt.proc = proc
	rt.startedAt = metav1.NewTime(proc.startedAt)
	ok = true
	return rt, nil
}

// writeCommandFile records what was started, for debugging.
func writeCommandFile(path string, c command) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cd %s\n", c.Dir)
	for _, e := range c.Env {
		fmt.Fprintf(&b, "export %s\n", e)
	}
	b.WriteString(c.Path)
	for _, a := range c.Args {
		fmt.Fprintf(&b, " \\\n  %s", a)
	}
	b.WriteString("\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing command file: %w", err)
	}
	return nil
}

func podHostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

func keyOf(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// killAll sends SIGKILL to every process at once (node deletion).
func (k *Kubelet) killAll() {
	for _, rt := range k.runtimes() {
		if rt.proc != nil {
			_ = rt.proc.signal(sigkill)
		}
	}
	for _, rt := range k.runtimes() {
		if rt.proc != nil {
			<-rt.proc.done
		}
		k.releaseIP(rt)
	}
}

// stopAll stops every process: SIGTERM, SIGKILL after shutdownGrace.
func (k *Kubelet) stopAll() {
	var wg sync.WaitGroup
	for _, rt := range k.runtimes() {
		if rt.proc != nil {
			wg.Go(func() { rt.proc.stop(shutdownGrace) })
		}
	}
	wg.Wait()
	for _, rt := range k.runtimes() {
		k.releaseIP(rt)
	}
}

func (k *Kubelet) runtimes() []*podRuntime {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*podRuntime, 0, len(k.running))
	for _, rt := range k.running {
		out = append(out, rt)
	}
	return out
}

// deleteNodePods deletes every pod bound to the deleted node at once (grace
// period 0), as the node lifecycle controller would after a node is gone.
func (k *Kubelet) deleteNodePods(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pods := k.opts.Client.CoreV1().Pods("")
	list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", k.opts.NodeName).String()})
	if err != nil {
		k.log.Error(err, "Listing pods of deleted node")
		return
	}
	for i := range list.Items {
		p := &list.Items[i]
		err := k.opts.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0),
			Preconditions:      &metav1.Preconditions{UID: &p.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			k.log.Error(err, "Deleting pod of deleted node", "pod", keyOf(p))
		}
	}
	leases := k.opts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	if err := leases.Delete(ctx, k.opts.NodeName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		k.log.Error(err, "Deleting lease of deleted node")
	}
	k.log.Info("Deleted pods of deleted node", "pods", len(list.Items))
}
