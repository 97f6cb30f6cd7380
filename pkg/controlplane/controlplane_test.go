package controlplane

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane (skipped with -short)")
	}
	// klog is loud: send it to a file and show its tail only on failure.
	logPath := filepath.Join(t.TempDir(), "controlplane.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = logFile.Close()
		if t.Failed() {
			logTail(t, logPath, 60)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	cp, err := Start(ctx, Options{Scheduler: true, LogWriter: logFile})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v (apiserver %s, etcd %s)", time.Since(start).Round(time.Millisecond), cp.Config.Host, cp.EtcdURL())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cp.Stop()
		}
	})

	for _, n := range []NodeSpec{
		{Name: "node-a", Zone: "a", CPU: "8", Memory: "32Gi"},
		{Name: "node-b", Zone: "b", CPU: "8", Memory: "32Gi", Labels: map[string]string{"pool": "spark"}},
	} {
		node, err := cp.CreateNode(ctx, n)
		if err != nil {
			t.Fatalf("CreateNode: %v", err)
		}
		if got := node.Labels[corev1.LabelTopologyZone]; got != n.Zone {
			t.Errorf("node %s: zone label %q, want %q", n.Name, got, n.Zone)
		}
		if got := node.Status.Allocatable.Pods().Value(); got != DefaultNodePods {
			t.Errorf("node %s: allocatable pods %d, want %d", n.Name, got, DefaultNodePods)
		}
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "c",
			Image: "registry.k8s.io/pause:3.10",
		}}},
	}
	if _, err := cp.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	bindStart := time.Now()
	var nodeName string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cp.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		nodeName = p.Spec.NodeName
		return nodeName != "", nil
	})
	if err != nil {
		t.Fatalf("pod was not bound within 30s: %v", err)
	}
	t.Logf("pod bound to %s after %v", nodeName, time.Since(bindStart).Round(time.Millisecond))

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatalf("WriteKubeconfig: %v", err)
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("loading kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing nodes through kubeconfig: %v", err)
	}
	if len(nodes.Items) != 2 {
		t.Errorf("listed %d nodes through kubeconfig, want 2", len(nodes.Items))
	}

	stopStart := time.Now()
	cp.Stop()
	stopped = true
	stopDuration := time.Since(stopStart)
	t.Logf("Stop took %v", stopDuration.Round(time.Millisecond))
	if stopDuration > 20*time.Second {
		t.Errorf("Stop took %v, want < 20s", stopDuration)
	}
	if err := cp.StopErr(); err != nil {
		t.Errorf("Stop reported: %v", err)
	}
	cp.Stop() // idempotent
	if _, err := os.Stat(cp.TempDir()); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still exists after Stop (stat: %v)", cp.TempDir(), err)
	}
}

func logTail(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Logf("reading control plane log: %v", err)
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	t.Logf("last %d lines of %s:", len(lines), path)
	for _, l := range lines {
		t.Log(l)
	}
}
