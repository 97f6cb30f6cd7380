package kubelet

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/spark"
	"github.com/sparkplane/sparkplane/pkg/sparkdist"
)

const pysparkJob = `
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("kubelet-e2e").getOrCreate()
rows = spark.range(1000).selectExpr("id % 10 as k").groupBy("k").count().collect()
print("RESULT groups=%d total=%d" % (len(rows), sum(r["count"] for r in rows)), flush=True)
spark.stop()
`

// TestRealSparkJob submits a PySpark job in cluster mode with spark-submit
// against the control plane; two kubelets run its driver and executors as
// real JVMs (and Python workers).
func TestRealSparkJob(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not on PATH: install Java 17 to run a real Spark job")
	}
	cp := controlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	dist, err := sparkdist.Find(ctx)
	if err != nil {
		t.Fatalf("finding Spark: %v", err)
	}
	t.Logf("Spark %s at %s (python %s)", dist.Version, dist.Home, dist.Python)

	ips := NewIPPool()
	nodeDirs := map[string]string{}
	for _, name := range []string{"spark-a", "spark-b"} {
		k := startKubelet(t, cp, controlplane.NodeSpec{Name: name, Zone: "a", Labels: map[string]string{"pool": "spark-e2e"}}, ips, dist)
		nodeDirs[name] = k.dir
	}

	// Executors are deleted by the driver when it ends: record them as
	// they run.
	type seenPod struct{ node, ip string }
	var mu sync.Mutex
	executors := map[string]seenPod{}
	factory := informers.NewSharedInformerFactoryWithOptions(cp.Client, 0, informers.WithNamespace("default"),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = spark.LabelRole + "=executor" }))
	record := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning {
			mu.Lock()
			executors[p.Name] = seenPod{p.Spec.NodeName, p.Status.PodIP}
			mu.Unlock()
		}
	}
	if _, err := factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: record, UpdateFunc: func(_, o any) { record(o) },
	}); err != nil {
		t.Fatal(err)
	}
	stopInformers := make(chan struct{})
	factory.Start(stopInformers)
	defer func() { close(stopInformers); factory.Shutdown() }()

	script := filepath.Join(t.TempDir(), "job.py")
	if err := os.WriteFile(script, []byte(pysparkJob), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--name", "kubelet-e2e",
		"--conf", "spark.executor.instances=2",
		"--conf", "spark.executor.memory=512m",
		"--conf", "spark.driver.memory=512m",
		"--conf", "spark.kubernetes.node.selector.pool=spark-e2e",
		"local://" + script,
	}
	cmd := dist.SubmitCommand(ctx, sparkdist.Cluster{APIServerURL: cp.Config.Host, Namespace: "default", Kubeconfig: env.kubeconfig}, args)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("spark-submit took %v", time.Since(start).Round(time.Millisecond))

	drivers, err := cp.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: spark.LabelRole + "=driver,spark-app-name=kubelet-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if len(drivers.Items) != 1 {
		t.Fatalf("%d driver pods, want 1; spark-submit (err %v):\n%s", len(drivers.Items), runErr, tail(out.String(), 60))
	}
	driver := drivers.Items[0]
	driverLog, _ := os.ReadFile(filepath.Join(PodDir(nodeDirs[driver.Spec.NodeName], "default", driver.Name), LogFile))
	if runErr != nil || driver.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("spark-submit: %v; driver %s; submit output:\n%s\ndriver log:\n%s", runErr, describePod(&driver), tail(out.String(), 40), tail(string(driverLog), 80))
	}
	if !strings.Contains(string(driverLog), "RESULT groups=10 total=1000") {
		t.Errorf("driver log lacks the job's result:\n%s", tail(string(driverLog), 80))
	}
	if driver.Status.StartTime != nil && len(driver.Status.ContainerStatuses) == 1 && driver.Status.ContainerStatuses[0].State.Terminated != nil {
		t.Logf("driver ran %v", driver.Status.ContainerStatuses[0].State.Terminated.FinishedAt.Sub(driver.Status.StartTime.Time).Round(time.Millisecond))
	}

	mu.Lock()
	defer mu.Unlock()
	if len(executors) < 2 {
		t.Errorf("saw %d running executors with a pod IP, want 2: %v", len(executors), executors)
	}
	for name, e := range executors {
		if e.ip == driver.Status.PodIP {
			t.Errorf("executor %s has the driver's IP %s", name, e.ip)
		}
		logPath := filepath.Join(PodDir(nodeDirs[e.node], "default", name), LogFile)
		data, err := os.ReadFile(logPath)
		if err != nil {
			t.Errorf("executor %s: %v", name, err)
			continue
		}
		if !strings.Contains(string(data), "Successfully registered with driver") {
			t.Errorf("executor %s never registered with the driver:\n%s", name, tail(string(data), 40))
		}
	}
	t.Logf("executors: %v", executors)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
