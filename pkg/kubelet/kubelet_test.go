package kubelet

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/sparkdist"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

func isRunningWithIP(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
}

func TestNonSparkPodRunsAndIsDeleted(t *testing.T) {
	cp := controlPlane(t)
	ctx := context.Background()
	ips := NewIPPool()
	k := startKubelet(t, cp, controlplane.NodeSpec{Name: "plain-1", Zone: "a"}, ips, nil)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:   "plain-1",
			Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	if _, err := cp.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, cp, "default", "plain", 20*time.Second, "Running", isRunningWithIP)
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil || !netip.MustParsePrefix("127.1.0.0/16").Contains(ip) {
		t.Errorf("podIP %q, want an address in 127.1.0.0/16", p.Status.PodIP)
	}
	if p.Status.HostIP != HostIP || p.Status.StartTime == nil {
		t.Errorf("hostIP %q startTime %v, want %s and set", p.Status.HostIP, p.Status.StartTime, HostIP)
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if !hasCondition(p, ct) {
			t.Errorf("condition %s is not True: %+v", ct, p.Status.Conditions)
		}
	}
	if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("container statuses %+v, want one running", p.Status.ContainerStatuses)
	}
	if _, err := os.Stat(filepath.Join(PodDir(k.dir, "default", "plain"), LogFile)); err != nil {
		t.Errorf("container log: %v", err)
	}

	// The node's Lease is created in kube-node-lease.
	var lease *coordinationv1.Lease
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		lease, err = cp.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "plain-1", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Errorf("no lease for node plain-1: %v", err)
	} else if lease.Spec.RenewTime == nil || ptr.Deref(lease.Spec.HolderIdentity, "") != "plain-1" {
		t.Errorf("lease %+v, want renewed and held by plain-1", lease.Spec)
	}

	// A normal delete (grace period 30s) is confirmed by the kubelet at once.
	start := time.Now()
	if err := cp.Client.CoreV1().Pods("default").Delete(ctx, "plain", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodGone(t, cp, "default", "plain", 10*time.Second)
	t.Logf("pod deleted after %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "pod IP released", func() bool { return ips.InUse() == 0 })
}

func hasCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("%s: not within %v", what, timeout)
	}
}

// fakeSparkSubmit is a bin/spark-submit that stands in for a driver: it
// prints what it was started with, starts a child (like PySpark's Python
// worker) and waits. Pod env FAKE_EXIT makes it exit with that code at once;
// FAKE_IGNORE_TERM makes it (not its child) ignore SIGTERM.
const fakeSparkSubmit = `#!/bin/sh
echo "argv: $*"
echo "SPARK_SUBMIT_OPTS=$SPARK_SUBMIT_OPTS"
echo "KUBECONFIG=$KUBECONFIG"
echo "SPARK_CONF_DIR=$SPARK_CONF_DIR"
echo "SPARK_LOCAL_DIRS=$SPARK_LOCAL_DIRS"
echo "SPARK_LOCAL_IP=$SPARK_LOCAL_IP"
echo "PYSPARK_PYTHON=$PYSPARK_PYTHON"
echo "pwd: $(pwd)"
cat "$SPARK_CONF_DIR/spark.properties"
if [ -n "$FAKE_EXIT" ]; then echo "boom: failing on purpose"; exit "$FAKE_EXIT"; fi
if [ -n "$FAKE_IGNORE_TERM" ]; then trap '' TERM; fi
sleep 600 &
echo $! > child.pid
echo $$ > main.pid
while :; do wait; done
`

// fakeDist is a Spark installation whose spark-submit is fakeSparkSubmit.
func fakeDist(t *testing.T) *sparkdist.Dist {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "bin", "spark-submit"), []byte(fakeSparkSubmit), 0o755); err != nil {
		t.Fatal(err)
	}
	return &sparkdist.Dist{Home: home, Python: "/fake/python", Version: "3.5.9"}
}

// createDriver creates a driver pod shaped as spark-submit makes it, bound
// to node, with extra env, and then (like spark-submit) its ConfigMap.
func createDriver(t *testing.T, cp *controlplane.ControlPlane, name, node string, extraEnv ...corev1.EnvVar) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	app := sparksim.App{Name: name, DriverTemplate: func(p *corev1.Pod) {
		p.Spec.NodeName = node
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, extraEnv...)
	}}
	pod, err := cp.Client.CoreV1().Pods("default").Create(ctx, sparksim.DriverPod(app), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Spark creates the ConfigMap after the pod: the kubelet must wait.
	time.Sleep(300 * time.Millisecond)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.Volumes[1].ConfigMap.Name, Namespace: "default"},
		Data:       map[string]string{"spark.properties": "spark.app.name=" + name + "\n"},
	}
	if _, err := cp.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pod
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, "pid file "+path, func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

func alive(pid int) bool {
	// Signal 0 checks existence; a zombie has exited too, so look at /proc.
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] != "Z"
}

func TestSparkDriverProcess(t *testing.T) {
	cp := controlPlane(t)
	ctx := context.Background()
	ips := NewIPPool()
	k := startKubelet(t, cp, controlplane.NodeSpec{Name: "proc-1", Zone: "a"}, ips, fakeDist(t))

	t.Run("runs translated and stops on delete", func(t *testing.T) {
		pod := createDriver(t, cp, "fake-a", "proc-1", corev1.EnvVar{Name: "FAKE_IGNORE_TERM", Value: "1"})
		p := waitPod(t, cp, "default", pod.Name, 20*time.Second, "Running", isRunningWithIP)
		dir := PodDir(k.dir, "default", pod.Name)
		mainPID := readPID(t, filepath.Join(dir, "work", "main.pid"))
		childPID := readPID(t, filepath.Join(dir, "work", "child.pid"))

		logData, err := os.ReadFile(filepath.Join(dir, LogFile))
		if err != nil {
			t.Fatal(err)
		}
		log := string(logData)
		confDir := filepath.Join(dir, "volumes", "spark-conf-volume-driver")
		for _, want := range []string{
			"argv: --conf spark.driver.bindAddress=" + p.Status.PodIP + " --conf spark.executorEnv.SPARK_DRIVER_POD_IP=" + p.Status.PodIP +
				" --deploy-mode client --properties-file " + filepath.Join(confDir, "spark.properties") + " --class org.apache.spark.examples.SparkPi",
			"SPARK_SUBMIT_OPTS=-Djdk.net.hosts.file=" + filepath.Join(dir, "hosts"),
			"KUBECONFIG=" + env.kubeconfig,
			"SPARK_CONF_DIR=" + confDir,
			"SPARK_LOCAL_DIRS=" + filepath.Join(dir, "volumes", "spark-local-dir-1"),
			"SPARK_LOCAL_IP=" + p.Status.PodIP,
			"PYSPARK_PYTHON=/fake/python",
			"pwd: " + filepath.Join(dir, "work"),
			"spark.app.name=fake-a",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("container.log lacks %q:\n%s", want, log)
			}
		}

		// A Service selecting the driver appears in its hosts file.
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "fake-a-driver-svc", Namespace: "default"},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone,
				Selector:  map[string]string{"spark-app-selector": pod.Labels["spark-app-selector"], "spark-role": "driver"},
				Ports:     []corev1.ServicePort{{Name: "driver-rpc-port", Port: 7078}},
			},
		}
		if _, err := cp.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cp.Client.CoreV1().Services("default").Delete(context.Background(), svc.Name, metav1.DeleteOptions{})
		})
		wantLine := p.Status.PodIP + "\tfake-a-driver-svc fake-a-driver-svc.default fake-a-driver-svc.default.svc fake-a-driver-svc.default.svc.cluster.local"
		waitFor(t, 5*time.Second, "service in hosts file", func() bool {
			data, _ := os.ReadFile(filepath.Join(dir, "hosts"))
			return strings.Contains(string(data), wantLine)
		})

		// The script ignores SIGTERM: it must be killed after the grace period.
		start := time.Now()
		if err := cp.Client.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](2)}); err != nil {
			t.Fatal(err)
		}
		waitPodGone(t, cp, "default", pod.Name, 15*time.Second)
		elapsed := time.Since(start)
		if elapsed < 2*time.Second {
			t.Errorf("pod gone after %v, before its 2s grace period", elapsed)
		}
		if alive(mainPID) || alive(childPID) {
			t.Errorf("processes still alive after deletion: main %v child %v", alive(mainPID), alive(childPID))
		}
		waitFor(t, 5*time.Second, "pod IP released", func() bool { return ips.InUse() == 0 })
	})

	t.Run("force deletion kills the process", func(t *testing.T) {
		pod := createDriver(t, cp, "fake-force", "proc-1", corev1.EnvVar{Name: "FAKE_IGNORE_TERM", Value: "1"})
		waitPod(t, cp, "default", pod.Name, 20*time.Second, "Running", isRunningWithIP)
		dir := PodDir(k.dir, "default", pod.Name)
		mainPID := readPID(t, filepath.Join(dir, "work", "main.pid"))
		childPID := readPID(t, filepath.Join(dir, "work", "child.pid"))
		if err := cp.Client.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "processes of the force-deleted pod killed", func() bool { return !alive(mainPID) && !alive(childPID) })
		waitFor(t, 5*time.Second, "pod IP released", func() bool { return ips.InUse() == 0 })
	})

	t.Run("exit code fails the pod with the log tail", func(t *testing.T) {
		pod := createDriver(t, cp, "fake-b", "proc-1", corev1.EnvVar{Name: "FAKE_EXIT", Value: "3"})
		p := waitPod(t, cp, "default", pod.Name, 20*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if !strings.Contains(p.Status.Message, "exited with code 3") || !strings.Contains(p.Status.Message, "boom: failing on purpose") {
			t.Errorf("message %q, want the exit code and the log tail", p.Status.Message)
		}
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 3 {
			t.Errorf("container statuses %+v, want terminated with exit code 3", cs)
		}
		waitFor(t, 5*time.Second, "pod IP released", func() bool { return ips.InUse() == 0 })
	})

	t.Run("secrets fail the pod", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "uses-secret", Namespace: "default"},
			Spec: corev1.PodSpec{
				NodeName:   "proc-1",
				Containers: []corev1.Container{{Name: "c", Image: "x", Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "pw"}}}}}},
			},
		}
		if _, err := cp.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, cp, "default", pod.Name, 20*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if p.Status.Reason != "SecretsNotSupported" || !strings.Contains(p.Status.Message, `Secret "db"`) {
			t.Errorf("reason %q message %q, want SecretsNotSupported naming the Secret", p.Status.Reason, p.Status.Message)
		}
	})
}

func TestNodeDeletionKillsAndRemovesPods(t *testing.T) {
	cp := controlPlane(t)
	ctx := context.Background()
	ips := NewIPPool()
	k := startKubelet(t, cp, controlplane.NodeSpec{Name: "spot-1", Zone: "a"}, ips, fakeDist(t))

	// A driver that ignores SIGTERM (node loss must not wait for it) and a
	// pod that is not executed.
	driver := createDriver(t, cp, "fake-spot", "spot-1", corev1.EnvVar{Name: "FAKE_IGNORE_TERM", Value: "1"})
	plain := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain-spot", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: "spot-1", Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}
	if _, err := cp.Client.CoreV1().Pods("default").Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, cp, "default", driver.Name, 20*time.Second, "Running", isRunningWithIP)
	waitPod(t, cp, "default", plain.Name, 20*time.Second, "Running", isRunningWithIP)
	dir := PodDir(k.dir, "default", driver.Name)
	mainPID := readPID(t, filepath.Join(dir, "work", "main.pid"))
	childPID := readPID(t, filepath.Join(dir, "work", "child.pid"))

	start := time.Now()
	if err := cp.Client.CoreV1().Nodes().Delete(ctx, "spot-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-k.done:
		k.done <- err
		if !errors.Is(err, ErrNodeDeleted) {
			t.Fatalf("Run returned %v, want ErrNodeDeleted", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("kubelet did not stop within 20s of its node's deletion")
	}
	t.Logf("kubelet stopped %v after node deletion", time.Since(start).Round(time.Millisecond))
	if alive(mainPID) || alive(childPID) {
		t.Errorf("processes alive after node deletion: main %v child %v", alive(mainPID), alive(childPID))
	}
	for _, name := range []string{driver.Name, plain.Name} {
		_, err := cp.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("pod %s still exists after node deletion (err %v)", name, err)
		}
	}
	if _, err := cp.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "spot-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease of deleted node: err %v, want NotFound", err)
	}
	if n := ips.InUse(); n != 0 {
		t.Errorf("%d pod IPs still in use", n)
	}
}

// A pod that reuses the name of an ended pod on the same node keeps the
// earlier pod's directory (and log), under <name>.<earlier UID>.
func TestPodOfSameNameKeepsEarlierPodsLog(t *testing.T) {
	cp := controlPlane(t)
	ctx := context.Background()
	k := startKubelet(t, cp, controlplane.NodeSpec{Name: "again-1", Zone: "a"}, NewIPPool(), nil)
	pods := cp.Client.CoreV1().Pods("default")
	var uids []string
	for range 2 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "again", Namespace: "default"},
			Spec:       corev1.PodSpec{NodeName: "again-1", Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
		}
		created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, string(created.UID))
		waitPod(t, cp, "default", "again", 20*time.Second, "Running", isRunningWithIP)
		if err := pods.Delete(ctx, "again", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitPodGone(t, cp, "default", "again", 10*time.Second)
	}
	dir := PodDir(k.dir, "default", "again")
	for path, uid := range map[string]string{dir + "." + uids[0]: uids[0], dir: uids[1]} {
		if _, err := os.Stat(filepath.Join(path, LogFile)); err != nil {
			t.Errorf("log of pod %s: %v", uid, err)
		}
		if got, _ := os.ReadFile(filepath.Join(path, "uid")); string(got) != uid {
			t.Errorf("%s holds pod %q, want %s", path, got, uid)
		}
	}
}
