package kubelet

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/spark"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
)

func TestPathRewriter(t *testing.T) {
	rw := newPathRewriter([]pathMapping{
		{"/opt/spark/conf", "/L/conf"},
		{"/var/data/spark-1", "/L/local"},
		{"/opt/spark/work-dir", "/L/work"},
		{"/opt/spark", "/S"},
		{"/", "/nothing"}, // ignored: it would rewrite every path
	})
	for _, tc := range []struct{ in, want string }{
		{"/opt/spark/conf/spark.properties", "/L/conf/spark.properties"},
		{"/opt/spark/conf", "/L/conf"},
		{"/opt/spark/conf/", "/L/conf/"},
		{"/opt/spark/jars/*", "/S/jars/*"},
		{"/opt/spark", "/S"},
		{"/opt/spark/work-dir/x.py", "/L/work/x.py"},
		// Inside values: after '=', ':', ',' and spaces, and after a URI's "//".
		{"-Dlog4j.configurationFile=/opt/spark/conf/log4j2.properties", "-Dlog4j.configurationFile=/L/conf/log4j2.properties"},
		{"/a:/opt/spark/conf:/b", "/a:/L/conf:/b"},
		{"/var/data/spark-1,/var/data/spark-1/x", "/L/local,/L/local/x"},
		{"local:///opt/spark/examples/src/main/python/pi.py", "local:///S/examples/src/main/python/pi.py"},
		{"file:/opt/spark/conf/x", "file:/L/conf/x"},
		{"--properties-file /opt/spark/conf/spark.properties", "--properties-file /L/conf/spark.properties"},
		// Not a prefix at a path boundary: left alone.
		{"/opt/sparkle", "/opt/sparkle"},
		{"/opt/spark-3.5/jars", "/opt/spark-3.5/jars"},
		{"/var/data/spark-12", "/var/data/spark-12"},
		{"/home/opt/spark/conf", "/home/opt/spark/conf"},
		{"x/opt/spark", "x/opt/spark"},
		{"s3a://bucket/opt/spark/conf", "s3a://bucket/opt/spark/conf"},
		{"no paths here", "no paths here"},
		{"", ""},
	} {
		if got := rw.Rewrite(tc.in); got != tc.want {
			t.Errorf("Rewrite(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Replaced text is not rewritten again.
	loop := newPathRewriter([]pathMapping{{"/a", "/b/a"}, {"/b", "/c"}})
	if got := loop.Rewrite("/a/x"); got != "/b/a/x" {
		t.Errorf("single pass: got %q, want /b/a/x", got)
	}
}

func TestJavaOptsOrder(t *testing.T) {
	env := []envVar{
		{"SPARK_JAVA_OPT_10", "-Dten"},
		{"SPARK_JAVA_OPT_2", "-Dtwo"},
		{"OTHER", "x"},
		{"SPARK_JAVA_OPT_0", "-Dzero"},
		{"SPARK_JAVA_OPT_x", "-Dx"},
		{"SPARK_JAVA_OPT_1", "-Done"},
	}
	want := []string{"-Dzero", "-Done", "-Dtwo", "-Dten", "-Dx"}
	if got := javaOpts(env); !reflect.DeepEqual(got, want) {
		t.Errorf("javaOpts = %q, want %q", got, want)
	}
}

// resolvedEnv resolves a sparksim pod's env the way the kubelet does.
func resolvedEnv(t *testing.T, pod *corev1.Pod, ip string) []envVar {
	t.Helper()
	env, err := resolveEnv(pod, &pod.Spec.Containers[0], envSource{PodIP: ip, HostIP: HostIP})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestBuildCommand(t *testing.T) {
	app := sparksim.App{Name: "pi", AppID: "spark-0123456789abcdef0123456789abcdef", ExecutorCPU: "2"}
	driver := sparksim.DriverPod(app)
	executor := sparksim.ExecutorPod(app, driver, 3)
	host := []envVar{{"PATH", "/usr/bin:/bin"}, {"JAVA_HOME", "/jdk"}, {"HOME", "/home/me"}}
	driverDir, execDir := "/n/pods/default/pi-driver", "/n/pods/default/pi-exec-3"
	driverMounts := []pathMapping{
		{"/var/data/spark-01234567", driverDir + "/volumes/spark-local-dir-1"},
		{"/opt/spark/conf", driverDir + "/volumes/spark-conf-volume-driver"},
	}
	execMounts := []pathMapping{
		{"/var/data/spark-01234567", execDir + "/volumes/spark-local-dir-1"},
		{"/opt/spark/conf", execDir + "/volumes/spark-conf-volume-exec"},
	}
	base := func(role spark.Role, pod *corev1.Pod, dir, ip string, mounts []pathMapping) commandInput {
		return commandInput{
			Role: role, Args: pod.Spec.Containers[0].Args, Env: resolvedEnv(t, pod, ip), Mounts: mounts, Host: host,
			SparkHome: "/spark", Python: "/venv/bin/python", Java: "/jdk/bin/java",
			WorkDir: dir + "/work", HostsFile: dir + "/hosts", PodIP: ip, Hostname: pod.Name,
		}
	}

	tests := []struct {
		name     string
		in       commandInput
		want     command
		wantErr  string
		checkEnv map[string]string
	}{
		{
			name: "executor",
			in:   base(spark.RoleExecutor, executor, execDir, "127.1.0.7", execMounts),
			want: command{
				Path: "/jdk/bin/java",
				Args: []string{
					"-Djdk.net.hosts.file=" + execDir + "/hosts",
					"-Dspark.driver.port=7078", "-Dspark.driver.blockManager.port=7079",
					"-Xms1g", "-Xmx1g",
					"-cp", execDir + "/volumes/spark-conf-volume-exec:/spark/jars/*:" + execDir + "/work",
					executorBackend,
					"--driver-url", "spark://CoarseGrainedScheduler@pi-89abcdef-driver-svc.default.svc:7078",
					"--executor-id", "3",
					"--cores", "2",
					"--app-id", "spark-0123456789abcdef0123456789abcdef",
					"--hostname", "127.1.0.7",
					"--resourceProfileId", "0",
					"--podName", "pi-89abcdef-exec-3",
				},
				Dir: execDir + "/work",
			},
			checkEnv: map[string]string{
				"SPARK_HOME":        "/spark",
				"SPARK_LOCAL_IP":    "127.1.0.7",
				"SPARK_LOCAL_DIRS":  execDir + "/volumes/spark-local-dir-1",
				"SPARK_CONF_DIR":    execDir + "/volumes/spark-conf-volume-exec",
				"PYSPARK_PYTHON":    "/venv/bin/python",
				"PATH":              "/usr/bin:/bin",
				"JAVA_HOME":         "/jdk",
				"HOME":              "/home/me",
				"HOSTNAME":          "pi-89abcdef-exec-3",
				"KUBECONFIG":        "",
				"SPARK_SUBMIT_OPTS": "",
			},
		},
		{
			name: "driver",
			in: func() commandInput {
				in := base(spark.RoleDriver, driver, driverDir, "127.1.0.2", driverMounts)
				in.Kubeconfig = "/k/kubeconfig"
				return in
			}(),
			want: command{
				Path: "/spark/bin/spark-submit",
				Args: []string{
					"--conf", "spark.driver.bindAddress=127.1.0.2",
					"--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=127.1.0.2",
					"--deploy-mode", "client",
					"--properties-file", driverDir + "/volumes/spark-conf-volume-driver/spark.properties",
					"--class", "org.apache.spark.examples.SparkPi",
					"local:///spark/examples/jars/spark-examples.jar", "1000",
				},
				Dir: driverDir + "/work",
			},
			checkEnv: map[string]string{
				"SPARK_SUBMIT_OPTS":         "-Djdk.net.hosts.file=" + driverDir + "/hosts",
				"KUBECONFIG":                "/k/kubeconfig",
				"SPARK_DRIVER_BIND_ADDRESS": "127.1.0.2",
				"SPARK_CONF_DIR":            driverDir + "/volumes/spark-conf-volume-driver",
				"SPARK_LOCAL_IP":            "127.1.0.2",
				"SPARK_USER":                "spark",
			},
		},
		{
			name: "driver keeps the pod's PYSPARK_PYTHON and SPARK_SUBMIT_OPTS, not its PATH",
			in: func() commandInput {
				in := base(spark.RoleDriver, driver, driverDir, "127.1.0.2", driverMounts)
				in.Env = append(in.Env, envVar{"PYSPARK_PYTHON", "/opt/conda/bin/python"}, envVar{"SPARK_SUBMIT_OPTS", "-Dfoo=1"},
					envVar{"PATH", "/opt/java/bin"})
				in.Args = []string{"driver", "--properties-file", "/opt/spark/conf/spark.properties", "local:///opt/spark/work-dir/$(APP)"}
				in.Env = append(in.Env, envVar{"APP", "job.py"})
				in.HostsFile = "/dir with space/hosts"
				return in
			}(),
			want: command{
				Path: "/spark/bin/spark-submit",
				Args: []string{
					"--conf", "spark.driver.bindAddress=127.1.0.2",
					"--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=127.1.0.2",
					"--deploy-mode", "client",
					"--properties-file", driverDir + "/volumes/spark-conf-volume-driver/spark.properties",
					"local://" + driverDir + "/work/job.py",
				},
				Dir: driverDir + "/work",
			},
			checkEnv: map[string]string{
				"PYSPARK_PYTHON":    "/opt/conda/bin/python",
				"SPARK_SUBMIT_OPTS": `-Dfoo=1 "-Djdk.net.hosts.file=/dir with space/hosts"`,
				"PATH":              "/usr/bin:/bin",
			},
		},
		{
			name: "executor without a driver URL",
			in: func() commandInput {
				in := base(spark.RoleExecutor, executor, execDir, "127.1.0.7", execMounts)
				var env []envVar
				for _, e := range in.Env {
					if e.Name != "SPARK_DRIVER_URL" {
						env = append(env, e)
					}
				}
				in.Env = env
				return in
			}(),
			wantErr: "SPARK_DRIVER_URL",
		},
		{
			name: "args that do not start with the role",
			in: func() commandInput {
				in := base(spark.RoleDriver, driver, driverDir, "127.1.0.2", driverMounts)
				in.Args = []string{"--class", "x"}
				return in
			}(),
			wantErr: `must start with "driver"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildCommand(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, kv := range got.Env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			for k, want := range tc.checkEnv {
				if env[k] != want {
					t.Errorf("env %s = %q, want %q", k, env[k], want)
				}
			}
			if got.Path != tc.want.Path || got.Dir != tc.want.Dir {
				t.Errorf("path %q dir %q, want %q %q", got.Path, got.Dir, tc.want.Path, tc.want.Dir)
			}
			if !reflect.DeepEqual(got.Args, tc.want.Args) {
				t.Errorf("args:\n got %q\nwant %q", got.Args, tc.want.Args)
			}
		})
	}
}

func TestSparkContainer(t *testing.T) {
	app := sparksim.App{Name: "pi"}
	driver := sparksim.DriverPod(app)
	tests := []struct {
		name string
		pod  *corev1.Pod
		want spark.Role
	}{
		{"driver", driver, spark.RoleDriver},
		{"executor", sparksim.ExecutorPod(app, driver, 1), spark.RoleExecutor},
		{"no spark-role label", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Args: []string{"driver"}}}}}, spark.RoleNone},
		{"command override", &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{spark.LabelRole: "driver"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Command: []string{"sh"}, Args: []string{"driver"}}}},
		}, spark.RoleNone},
		{"sidecar first", &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{spark.LabelRole: "executor"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "side", Image: "x"}, {Name: "spark", Args: []string{"executor"}}}},
		}, spark.RoleExecutor},
	}
	for _, tc := range tests {
		c, role := sparkContainer(tc.pod)
		if role != tc.want || (role == spark.RoleNone) != (c == nil) {
			t.Errorf("%s: role %q (container %v), want %q", tc.name, role, c != nil, tc.want)
		}
	}
}
