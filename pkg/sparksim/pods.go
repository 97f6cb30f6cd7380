// Package sparksim creates pods shaped exactly as Apache Spark creates them
// on Kubernetes, and simulates a Spark driver's executor allocation (batches
// created only after the driver is bound, lost executors replaced), so
// placement and scheduling can be tested on a real control plane without
// running Spark.
package sparksim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

// App describes one Spark application.
type App struct {
	Namespace string
	// Name is spark.app.name; pod names derive from it.
	Name string
	// AppID is the spark-app-selector value; derived from Name when empty.
	AppID string
	// Executors is the number of executors the driver keeps alive.
	Executors int
	// BatchSize and BatchDelay mirror spark.kubernetes.allocation.batch.size
	// (default 5) and .batch.delay (default 1s).
	BatchSize  int
	BatchDelay time.Duration
	// Resources; defaults 1 cpu / 1408Mi (Spark's 1g heap + 384Mi overhead).
	DriverCPU, DriverMemory     string
	ExecutorCPU, ExecutorMemory string
	// ClientMode: no driver pod; executors have no ownerReference.
	ClientMode bool
	// DriverAnnotations are spark.kubernetes.driver.annotation.* values.
	DriverAnnotations map[string]string
	// DriverTemplate and ExecutorTemplate edit the pods like a pod template
	// or spark.kubernetes.*.node.selector.* confs would.
	DriverTemplate, ExecutorTemplate func(*corev1.Pod)
	// SchedulerName is spark.kubernetes.scheduler.name (empty: default).
	SchedulerName string
	// StartDelay is how long the driver takes from being bound to asking
	// for its first executors (a real driver starts a JVM and a
	// SparkContext first). Default 0.
	StartDelay time.Duration
	// Duration, when set, makes the app finish that long after its
	// Executors executors are all bound: the driver stops allocating, then
	// marks its executors and then itself Succeeded through the status
	// subresource, as the kubelet would report them. Zero runs until Stop.
	Duration time.Duration
	// Properties are extra spark.properties entries of the driver's conf
	// ConfigMap (see ConfMap); they win over the ones derived from App.
	Properties map[string]string
}

func (a App) withDefaults() App {
	if a.Namespace == "" {
		a.Namespace = "default"
	}
	if a.AppID == "" {
		sum := sha256.Sum256([]byte(a.Namespace + "/" + a.Name))
		a.AppID = "spark-" + hex.EncodeToString(sum[:16])
	}
	if a.BatchSize == 0 {
		a.BatchSize = 5
	}
	if a.BatchDelay == 0 {
		a.BatchDelay = time.Second
	}
	for _, f := range []struct {
		v *string
		d string
	}{{&a.DriverCPU, "1"}, {&a.DriverMemory, "1408Mi"}, {&a.ExecutorCPU, "1"}, {&a.ExecutorMemory, "1408Mi"}} {
		if *f.v == "" {
			*f.v = f.d
		}
	}
	return a
}

// prefix is Spark's resource name prefix: the app name plus a random suffix.
func (a App) prefix() string {
	return a.Name + "-" + a.AppID[len(a.AppID)-8:]
}

// DriverName is the driver pod's name.
func (a App) DriverName() string { return a.withDefaults().prefix() + "-driver" }

func resources(cpu, mem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)},
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
}

// DriverPod returns the driver pod as spark-submit creates it in cluster mode.
func DriverPod(app App) *corev1.Pod {
	a := app.withDefaults()
	vols, mounts := localAndConfVolumes(a, "spark-conf-volume-driver", "spark-drv-"+a.AppID[6:22]+"-conf-map",
		[]corev1.KeyToPath{{Key: "spark.properties", Path: "spark.properties", Mode: ptr.To[int32](420)}})
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.prefix() + "-driver", Namespace: a.Namespace,
			Labels: map[string]string{
				spark.LabelAppName: a.Name, spark.LabelAppSelector: a.AppID, spark.LabelRole: string(spark.RoleDriver), spark.LabelVersion: "3.5.3",
			},
			Annotations: maps.Clone(a.DriverAnnotations),
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: "spark",
			SchedulerName:      a.SchedulerName,
			Containers: []corev1.Container{{
				Name: "spark-kubernetes-driver", Image: "apache/spark:3.5.3", ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"driver", "--properties-file", "/opt/spark/conf/spark.properties", "--class", "org.apache.spark.examples.SparkPi", "local:///opt/spark/examples/jars/spark-examples.jar", "1000"},
				Ports: []corev1.ContainerPort{
					{Name: "driver-rpc-port", ContainerPort: 7078, Protocol: corev1.ProtocolTCP},
					{Name: "blockmanager", ContainerPort: 7079, Protocol: corev1.ProtocolTCP},
					{Name: "spark-ui", ContainerPort: 4040, Protocol: corev1.ProtocolTCP},
				},
				Env: []corev1.EnvVar{
					{Name: "SPARK_USER", Value: "spark"},
					{Name: "SPARK_APPLICATION_ID", Value: a.AppID},
					fieldEnv("SPARK_DRIVER_BIND_ADDRESS", "status.podIP"),
					{Name: "SPARK_LOCAL_DIRS", Value: "/var/data/spark-" + a.AppID[6:14]},
					{Name: "SPARK_CONF_DIR", Value: "/opt/spark/conf"},
				},
				Resources:    resources(a.DriverCPU, a.DriverMemory),
				VolumeMounts: mounts,
			}},
			Volumes: vols,
		},
	}
	if a.DriverTemplate != nil {
		a.DriverTemplate(p)
	}
	return p
}

// ExecutorPod returns executor id of the app as the driver creates it. With
// a nil driver (client mode) it has no ownerReference.
func ExecutorPod(app App, driver *corev1.Pod, id int) *corev1.Pod {
	a := app.withDefaults()
	name := fmt.Sprintf("%s-exec-%d", a.prefix(), id)
	vols, mounts := localAndConfVolumes(a, "spark-conf-volume-exec", "spark-exec-"+a.AppID[6:22]+"-conf-map", nil)
	driverURL := "spark://CoarseGrainedScheduler@" + a.prefix() + "-driver-svc." + a.Namespace + ".svc:7078"
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: a.Namespace,
			Labels: map[string]string{
				spark.LabelAppName: a.Name, spark.LabelAppSelector: a.AppID, spark.LabelRole: string(spark.RoleExecutor),
				spark.LabelExecID: strconv.Itoa(id), spark.LabelProfileID: "0", spark.LabelVersion: "3.5.3",
			},
		},
		Spec: corev1.PodSpec{
			Hostname:           name,
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: "spark",
			SchedulerName:      a.SchedulerName,
			Containers: []corev1.Container{{
				Name: "spark-kubernetes-executor", Image: "apache/spark:3.5.3", ImagePullPolicy: corev1.PullIfNotPresent,
				Args:  []string{"executor"},
				Ports: []corev1.ContainerPort{{Name: "blockmanager", ContainerPort: 7079, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "SPARK_USER", Value: "spark"},
					{Name: "SPARK_DRIVER_URL", Value: driverURL},
					{Name: "SPARK_EXECUTOR_CORES", Value: a.ExecutorCPU},
					{Name: "SPARK_EXECUTOR_MEMORY", Value: "1g"},
					{Name: "SPARK_APPLICATION_ID", Value: a.AppID},
					{Name: "SPARK_CONF_DIR", Value: "/opt/spark/conf"},
					{Name: "SPARK_EXECUTOR_ID", Value: strconv.Itoa(id)},
					{Name: "SPARK_RESOURCE_PROFILE_ID", Value: "0"},
					fieldEnv("SPARK_EXECUTOR_POD_IP", "status.podIP"),
					fieldEnv("SPARK_EXECUTOR_POD_NAME", "metadata.name"),
					{Name: "SPARK_JAVA_OPT_0", Value: "-Dspark.driver.port=7078"},
					{Name: "SPARK_JAVA_OPT_1", Value: "-Dspark.driver.blockManager.port=7079"},
					{Name: "SPARK_LOCAL_DIRS", Value: "/var/data/spark-" + a.AppID[6:14]},
				},
				Resources:    resources(a.ExecutorCPU, a.ExecutorMemory),
				VolumeMounts: mounts,
			}},
			Volumes: vols,
		},
	}
	if driver != nil {
		p.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Pod", Name: driver.Name, UID: driver.UID, Controller: ptr.To(true),
		}}
	}
	if a.ExecutorTemplate != nil {
		a.ExecutorTemplate(p)
	}
	return p
}

// localAndConfVolumes are the two volumes Spark mounts in every pod: a
// local dir (emptyDir) and the conf ConfigMap.
func localAndConfVolumes(a App, confVolume, confMap string, items []corev1.KeyToPath) ([]corev1.Volume, []corev1.VolumeMount) {
	localDir := "/var/data/spark-" + a.AppID[6:14]
	vols := []corev1.Volume{
		{Name: "spark-local-dir-1", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: confVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: confMap}, Items: items, DefaultMode: ptr.To[int32](420),
		}}},
	}
	mounts := []corev1.VolumeMount{{Name: "spark-local-dir-1", MountPath: localDir}, {Name: confVolume, MountPath: "/opt/spark/conf"}}
	return vols, mounts
}
