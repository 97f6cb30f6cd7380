package gang

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const mi = 1 << 20

func driverPod(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app-driver", Namespace: "ns", Labels: map[string]string{
			"spark-role": "driver", "spark-app-selector": "spark-1",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "spark-kubernetes-driver",
			Args: []string{"driver", "--properties-file", "/opt/spark/conf/spark.properties", "--class", "com.example.Main", "local:///opt/app.jar"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1408Mi"),
			}},
		}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withArgs(args ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Args = args }
}

func annotated(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func TestShapeFromConf(t *testing.T) {
	python := map[string]string{"spark.kubernetes.resource.type": "python"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		props    map[string]string
		driver   *corev1.Pod
		want     Shape // Derivation is not compared
		derived  string
		warning  string
		noDriver bool
	}{
		{
			name:    "Spark's defaults: 2 executors of 1 cpu and 1g + 384Mi",
			props:   map[string]string{},
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			derived: "executor memory 1408Mi = heap 1Gi + overhead 384Mi (Spark's minimum; 0.1 x heap, default, is less)",
		},
		{
			name:    "no properties at all (client mode) warns and assumes the defaults",
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			warning: "no Spark properties found for the driver",
		},
		{
			name:    "PySpark from spark.kubernetes.resource.type: factor 0.4, truncated like Scala's toInt",
			props:   python,
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppPython, Executor: Resources{1000, (1024 + 409) * mi}},
			derived: "executor memory 1433Mi = heap 1Gi + overhead 409Mi (0.4 x heap, the non-JVM default for a python app)",
		},
		{
			name:    "PySpark from the driver's --class PythonRunner",
			props:   map[string]string{"spark.executor.memory": "4g"},
			driver:  driverPod(withArgs("driver", "--properties-file", "/opt/spark/conf/spark.properties", "--class", "org.apache.spark.deploy.PythonRunner", "local:///opt/job.py")),
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppPython, Executor: Resources{1000, (4096 + 1638) * mi}},
			derived: "app type python (driver argument --class org.apache.spark.deploy.PythonRunner)",
		},
		{
			name:    "PySpark from the main resource's .py extension",
			props:   map[string]string{},
			driver:  driverPod(withArgs("driver", "--properties-file", "/opt/spark/conf/spark.properties", "--class", "x.Runner", "s3a://bucket/jobs/etl.py", "--date", "2024-01-01")),
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppPython, Executor: Resources{1000, 1433 * mi}},
			derived: "app type python (main resource s3a://bucket/jobs/etl.py)",
		},
		{
			name:   "a .py among the app's own arguments does not make a JVM app Python",
			props:  map[string]string{},
			driver: driverPod(withArgs("driver", "--properties-file", "/f", "--class", "x.Main", "local:///app.jar", "script.py")),
			want:   Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
		},
		{
			name:   "R gets 0.4 too",
			props:  map[string]string{"spark.kubernetes.resource.type": "r", "spark.executor.memory": "2g"},
			want:   Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppR, Executor: Resources{1000, (2048 + 819) * mi}},
			driver: driverPod(),
		},
		{
			name:    "an explicit factor wins over the non-JVM default (Spark 3.x writes the resolved one)",
			props:   with(python, "spark.kubernetes.memoryOverheadFactor", "0.1", "spark.executor.memory", "8g"),
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppPython, Executor: Resources{1000, (8192 + 819) * mi}},
			derived: "overhead 819Mi (0.1 x heap, spark.kubernetes.memoryOverheadFactor)",
		},
		{
			name:  "spark.executor.memoryOverheadFactor wins over spark.kubernetes.memoryOverheadFactor",
			props: map[string]string{"spark.executor.memoryOverheadFactor": "0.2", "spark.kubernetes.memoryOverheadFactor": "0.4", "spark.executor.memory": "4g"},
			want:  Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, (4096 + 819) * mi}},
		},
		{
			name:  "0.1 x 10g is exactly 1024 despite floating point",
			props: map[string]string{"spark.executor.memory": "10g"},
			want:  Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, (10240 + 1024) * mi}},
		},
		{
			name:    "explicit overhead wins over every factor; no unit means MiB",
			props:   with(python, "spark.executor.memory", "2048", "spark.executor.memoryOverhead", "1g", "spark.executor.memoryOverheadFactor", "0.5"),
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppPython, Executor: Resources{1000, 3072 * mi}},
			derived: "overhead 1Gi (spark.executor.memoryOverhead)",
		},
		{
			name:  "JVM sizes: k is truncated to whole MiB",
			props: map[string]string{"spark.executor.memory": "1500K"},
			want:  Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, (1 + 384) * mi}},
		},
		{
			name:  "spark.executor.minMemoryOverhead (4.0) raises the floor",
			props: map[string]string{"spark.executor.minMemoryOverhead": "512m"},
			want:  Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, (1024 + 512) * mi}},
		},
		{
			name:    "off-heap counts when enabled; its size is in bytes without a unit",
			props:   map[string]string{"spark.memory.offHeap.enabled": "TRUE", "spark.memory.offHeap.size": "1073741824"},
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, (1024 + 384 + 1024) * mi}},
			derived: "+ off-heap 1Gi",
		},
		{
			name:  "off-heap size is ignored when off-heap is disabled",
			props: map[string]string{"spark.memory.offHeap.enabled": "false", "spark.memory.offHeap.size": "2g"},
			want:  Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
		},
		{
			name:    "pyspark memory counts for Python apps",
			props:   with(python, "spark.executor.memory", "2g", "spark.executor.pyspark.memory", "512m", "spark.memory.offHeap.enabled", "true", "spark.memory.offHeap.size", "256m"),
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppPython, Executor: Resources{1000, (2048 + 819 + 256 + 512) * mi}},
			derived: "executor memory 3635Mi = heap 2Gi + overhead 819Mi (0.4 x heap, the non-JVM default for a python app) + off-heap 256Mi + pyspark 512Mi",
		},
		{
			name:    "pyspark memory is ignored for JVM apps, as Spark does",
			props:   map[string]string{"spark.executor.pyspark.memory": "1g"},
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			warning: "spark.executor.pyspark.memory is set but the app is not a Python app",
		},
		{
			name:    "request.cores wins over executor.cores",
			props:   map[string]string{"spark.kubernetes.executor.request.cores": "500m", "spark.executor.cores": "4", "spark.executor.instances": "10"},
			want:    Shape{MinExecutors: 10, InitialExecutors: 10, MaxExecutors: 10, AppType: AppJava, Executor: Resources{500, 1408 * mi}},
			derived: "executor cpu 0.5 cpu (spark.kubernetes.executor.request.cores)",
		},
		{
			name:    "static instances",
			props:   map[string]string{"spark.executor.instances": " 4 ", "spark.executor.cores": "2"},
			want:    Shape{MinExecutors: 4, InitialExecutors: 4, MaxExecutors: 4, AppType: AppJava, Executor: Resources{2000, 1408 * mi}},
			derived: "4 executors, all in the gang (static allocation, spark.executor.instances)",
		},
		{
			name:    "dynamic allocation: gang is the minimum; initial is max(initial, min, instances)",
			props:   map[string]string{"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.minExecutors": "2", "spark.dynamicAllocation.initialExecutors": "3", "spark.dynamicAllocation.maxExecutors": "20", "spark.executor.instances": "5"},
			want:    Shape{MinExecutors: 2, InitialExecutors: 5, MaxExecutors: 20, DynamicAllocation: true, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			derived: "dynamic allocation: min 2, initial 5, max 20 executors; the gang reserves the minimum",
		},
		{
			name:    "dynamic allocation defaults: min 0, max unlimited",
			props:   map[string]string{"spark.dynamicAllocation.enabled": "true"},
			want:    Shape{MinExecutors: 0, InitialExecutors: 0, MaxExecutors: UnlimitedExecutors, DynamicAllocation: true, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			derived: "max unlimited",
		},
		{
			name:    "initialExecutors below min warns; Spark starts with min",
			props:   map[string]string{"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.minExecutors": "3", "spark.dynamicAllocation.initialExecutors": "1"},
			want:    Shape{MinExecutors: 3, InitialExecutors: 3, MaxExecutors: UnlimitedExecutors, DynamicAllocation: true, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			warning: "spark.dynamicAllocation.initialExecutors=1 is below spark.dynamicAllocation.minExecutors=3",
		},
		{
			name:    "dynamic allocation without shuffle tracking warns",
			props:   map[string]string{"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.shuffleTracking.enabled": "false"},
			want:    Shape{MaxExecutors: UnlimitedExecutors, DynamicAllocation: true, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			warning: "Spark refuses to start on Kubernetes",
		},
		{
			name:   "annotations override the conf (client mode)",
			props:  map[string]string{"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.maxExecutors": "8"},
			driver: driverPod(annotated(AnnotationGangMinExecutors, "3", AnnotationExecutorCPU, "1500m", AnnotationExecutorMemory, "4Gi")),
			want:   Shape{MinExecutors: 3, InitialExecutors: 0, MaxExecutors: 8, DynamicAllocation: true, AppType: AppJava, Executor: Resources{1500, 4096 * mi}},
		},
		{
			name:    "template and custom resources warn",
			props:   map[string]string{"spark.kubernetes.executor.podTemplateFile": "/t.yaml", "spark.executor.resource.gpu.amount": "1"},
			want:    Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			warning: "custom executor resources (spark.executor.resource.gpu.amount) are not reserved",
		},
		{
			name:     "no driver pod",
			props:    map[string]string{},
			noDriver: true,
			want:     Shape{MinExecutors: 2, InitialExecutors: 2, MaxExecutors: 2, AppType: AppJava, Executor: Resources{1000, 1408 * mi}},
			warning:  "no driver pod",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.driver
			if d == nil && !tc.noDriver {
				d = driverPod()
			}
			got, warns, err := ShapeFromConf(tc.props, d)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			want := tc.want
			if d != nil {
				want.Driver = PodRequests(d)
			}
			derivation := got.Derivation
			got.Derivation = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("shape\n got %+v\nwant %+v", got, want)
			}
			if tc.derived != "" && !strings.Contains(derivation.String(), tc.derived) {
				t.Errorf("derivation %q\nlacks %q", derivation, tc.derived)
			}
			if tc.warning != "" && !strings.Contains(strings.Join(warns, "\n"), tc.warning) {
				t.Errorf("warnings %q lack %q", warns, tc.warning)
			}
		})
	}
}

func TestShapeFromConfErrors(t *testing.T) {
	tests := []struct {
		name   string
		props  map[string]string
		driver *corev1.Pod
		want   []string
	}{
		{"fractional JVM size", map[string]string{"spark.executor.memory": "1.5g"}, nil, []string{`spark.executor.memory="1.5g" is not a JVM size`}},
		{"unknown JVM suffix", map[string]string{"spark.executor.memoryOverhead": "12x"}, nil, []string{`spark.executor.memoryOverhead="12x"`}},
		{"Kubernetes quantity is not a JVM size", map[string]string{"spark.executor.memory": "2Gi"}, nil, []string{`spark.executor.memory="2Gi"`}},
		{"negative instances", map[string]string{"spark.executor.instances": "-1"}, nil, []string{`spark.executor.instances="-1" is not a whole number >= 0`}},
		{"non-numeric instances", map[string]string{"spark.executor.instances": "two"}, nil, []string{`spark.executor.instances="two"`}},
		{"bad boolean", map[string]string{"spark.dynamicAllocation.enabled": "yes"}, nil, []string{`spark.dynamicAllocation.enabled="yes" is not true or false`}},
		{"min above max", map[string]string{"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.minExecutors": "5", "spark.dynamicAllocation.maxExecutors": "2"}, nil,
			[]string{"spark.dynamicAllocation.minExecutors=5 is above spark.dynamicAllocation.maxExecutors=2"}},
		{"max 0", map[string]string{"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.maxExecutors": "0"}, nil, []string{`spark.dynamicAllocation.maxExecutors="0" is not a whole number >= 1`}},
		{"executor factor 0", map[string]string{"spark.executor.memoryOverheadFactor": "0"}, nil, []string{`spark.executor.memoryOverheadFactor="0" is not a number > 0`}},
		{"kubernetes factor negative", map[string]string{"spark.kubernetes.memoryOverheadFactor": "-0.1"}, nil, []string{`spark.kubernetes.memoryOverheadFactor="-0.1" is not a number >= 0`}},
		{"factor NaN", map[string]string{"spark.executor.memoryOverheadFactor": "NaN"}, nil, []string{`spark.executor.memoryOverheadFactor="NaN"`}},
		{"request cores", map[string]string{"spark.kubernetes.executor.request.cores": "fast"}, nil, []string{`spark.kubernetes.executor.request.cores="fast" is not a positive cpu quantity`}},
		{"zero cores", map[string]string{"spark.executor.cores": "0"}, nil, []string{`spark.executor.cores="0" is not a whole number >= 1`}},
		{"off-heap enabled without a size", map[string]string{"spark.memory.offHeap.enabled": "true"}, nil, []string{"spark.memory.offHeap.size=\"\" must be at least 1m when spark.memory.offHeap.enabled=true"}},
		{"off-heap below 1MiB", map[string]string{"spark.memory.offHeap.enabled": "true", "spark.memory.offHeap.size": "1000"}, nil, []string{`spark.memory.offHeap.size="1000" must be at least 1m`}},
		{"annotation min executors not a number", map[string]string{}, driverPod(annotated(AnnotationGangMinExecutors, "x")), []string{`annotation sparkplane.io/gang-min-executors="x" is not a whole number >= 0`}},
		{"annotation min executors above what Spark runs", map[string]string{"spark.executor.instances": "2"}, driverPod(annotated(AnnotationGangMinExecutors, "3")),
			[]string{`annotation sparkplane.io/gang-min-executors="3" is above the 2 executors Spark will ever run`}},
		{"annotation memory", map[string]string{}, driverPod(annotated(AnnotationExecutorMemory, "lots")), []string{`annotation sparkplane.io/executor-memory="lots" is not a positive Kubernetes quantity`}},
		{"annotation cpu zero", map[string]string{}, driverPod(annotated(AnnotationExecutorCPU, "0")), []string{`annotation sparkplane.io/executor-cpu="0"`}},
		{"every error is reported", map[string]string{"spark.executor.memory": "lots", "spark.executor.cores": "many"}, nil,
			[]string{`spark.executor.memory="lots"`, `spark.executor.cores="many"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.driver
			if d == nil {
				d = driverPod()
			}
			_, _, err := ShapeFromConf(tc.props, d)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestPodRequests(t *testing.T) {
	req := func(cpu, mem string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}
	}
	always := corev1.ContainerRestartPolicyAlways
	tests := []struct {
		name string
		spec corev1.PodSpec
		want Resources
	}{
		{"containers add up", corev1.PodSpec{Containers: []corev1.Container{{Resources: req("1", "1Gi")}, {Resources: req("500m", "512Mi")}}}, Resources{1500, 1536 * mi}},
		{"a big init container raises the total", corev1.PodSpec{
			InitContainers: []corev1.Container{{Resources: req("2", "100Mi")}},
			Containers:     []corev1.Container{{Resources: req("1", "1Gi")}},
		}, Resources{2000, 1024 * mi}},
		{"sidecars run alongside", corev1.PodSpec{
			InitContainers: []corev1.Container{{Resources: req("500m", "100Mi"), RestartPolicy: &always}, {Resources: req("1", "1Gi")}},
			Containers:     []corev1.Container{{Resources: req("1", "1Gi")}},
		}, Resources{1500, 1124 * mi}},
		{"overhead and pod-level requests", corev1.PodSpec{
			Resources:  &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}},
			Overhead:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			Containers: []corev1.Container{{Resources: req("1", "1Gi")}},
		}, Resources{3000, 1088 * mi}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodRequests(&corev1.Pod{Spec: tc.spec}); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseProperties(t *testing.T) {
	// As written by java.util.Properties.store, with a comment header.
	text := "#Java properties built from Kubernetes config map with name: spark-drv-1-conf-map\n" +
		"#Mon Jan 01 00:00:00 UTC 2024\r\n" +
		"spark.master=k8s\\://https\\://10.0.0.1\\:443\n" +
		"spark.kubernetes.driver.label.sparkplane.io/queue=etl\n" +
		"spark.driver.extraJavaOptions=-Da\\=b -Dc\\=d\n" +
		"  ! another comment\n" +
		"spark.app.name = my app \n" +
		"key\\ with\\ spaces:value\n" +
		"spark.long=one \\\n    two\n" +
		"spark.unicode=caf\\u00e9 \\uD83D\\uDE00\n" +
		"spark.tab=a\\tb\n" +
		"spark.empty\n" +
		"spark.kubernetes.resource.type=python"
	got, err := ParseProperties(text)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"spark.master": "k8s://https://10.0.0.1:443",
		"spark.kubernetes.driver.label.sparkplane.io/queue": "etl",
		"spark.driver.extraJavaOptions":                     "-Da=b -Dc=d",
		"spark.app.name":                                    "my app ",
		"key with spaces":                                   "value",
		"spark.long":                                        "one two",
		"spark.unicode":                                     "café 😀",
		"spark.tab":                                         "a\tb",
		"spark.empty":                                       "",
		"spark.kubernetes.resource.type":                    "python",
	}
	if len(got) != len(want) {
		t.Errorf("got %d keys %q, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := ParseProperties("a=\\u12"); err == nil {
		t.Error("malformed \\u escape accepted")
	}
}

func TestPropertiesConfigMap(t *testing.T) {
	d := driverPod(func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{
			{Name: "other", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}},
			{Name: "spark-conf-volume-driver", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "spark-drv-abc-conf-map"},
				Items:                []corev1.KeyToPath{{Key: "spark.properties", Path: "spark.properties"}},
			}}},
		}
	})
	if name, ok := PropertiesConfigMap(d); !ok || name != "spark-drv-abc-conf-map" {
		t.Errorf("got %q %v", name, ok)
	}
	if _, ok := PropertiesConfigMap(driverPod()); ok {
		t.Error("found a ConfigMap on a pod without volumes")
	}
}
