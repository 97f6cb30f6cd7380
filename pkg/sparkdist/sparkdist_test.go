package sparkdist

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeHome makes a directory that looks like a Spark installation.
func fakeHome(t *testing.T, version string) string {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{"bin", "jars"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, "bin", "spark-submit"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if version != "" {
		if err := os.WriteFile(filepath.Join(home, "jars", "spark-core_2.12-"+version+".jar"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// fakeJava puts a java executable on a PATH of its own.
func fakeJava(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"java", "python3"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindFromSparkHome(t *testing.T) {
	bin := fakeJava(t)
	home := fakeHome(t, "3.5.9")
	t.Setenv("PATH", bin)
	t.Setenv("JAVA_HOME", "")
	t.Setenv("SPARK_HOME", home)
	t.Setenv("PYSPARK_PYTHON", "")

	d, err := Find(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &Dist{Home: home, Python: filepath.Join(bin, "python3"), Version: "3.5.9"}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Find = %+v, want %+v", d, want)
	}

	t.Setenv("PYSPARK_PYTHON", "/opt/py/bin/python")
	if _, err := Find(context.Background()); err == nil || !strings.Contains(err.Error(), "PYSPARK_PYTHON") {
		t.Errorf("missing PYSPARK_PYTHON: error %v, want one saying how to fix it", err)
	}
}

func TestFindErrors(t *testing.T) {
	bin := fakeJava(t)
	for _, tc := range []struct {
		name     string
		path     string
		javaHome string
		home     string
		want     string
	}{
		{"no java", t.TempDir(), "", fakeHome(t, "3.5.9"), "install Java 17"},
		{"bad JAVA_HOME", bin, "/nonexistent/jdk", fakeHome(t, "3.5.9"), "JAVA_HOME"},
		{"not a Spark home", bin, "", t.TempDir(), "no bin/spark-submit"},
		{"no spark-core jar", bin, "", fakeHome(t, ""), "no spark-core jar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			t.Setenv("JAVA_HOME", tc.javaHome)
			t.Setenv("SPARK_HOME", tc.home)
			t.Setenv("PYSPARK_PYTHON", "")
			_, err := Find(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestFindInstalls runs hack/install-spark.sh (which only prints SPARK_HOME
// once Spark is installed; the first run downloads pyspark).
func TestFindInstalls(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not on PATH")
	}
	if testing.Short() {
		t.Skip("may download pyspark (skipped with -short)")
	}
	t.Setenv("SPARK_HOME", "")
	d, err := Find(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Version == "" || !strings.HasSuffix(d.Home, "pyspark") {
		t.Errorf("Find = %+v, want pyspark's SPARK_HOME and a version", d)
	}
	out, err := exec.Command(d.Python, "-c", "import pyspark; print(pyspark.__version__)").Output()
	if err != nil || strings.TrimSpace(string(out)) != d.Version {
		t.Errorf("%s cannot import pyspark %s: %q, %v", d.Python, d.Version, out, err)
	}
}

func TestRepoRoot(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "pkg", "x")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	// A go.mod of another module on the way up is skipped.
	if err := os.WriteFile(filepath.Join(root, "pkg", "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+Module+"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := RepoRoot(nested)
	if err != nil || got != root {
		t.Errorf("RepoRoot = %q, %v; want %q", got, err, root)
	}
	if _, err := RepoRoot(t.TempDir()); err == nil {
		t.Error("RepoRoot outside a repository: no error")
	}
}

func TestSubmitCommand(t *testing.T) {
	d := &Dist{Home: "/spark", Python: "/venv/bin/python", Version: "3.5.9"}
	c := Cluster{APIServerURL: "https://127.0.0.1:6443", Kubeconfig: "/k/config"}
	cmd := d.SubmitCommand(context.Background(), c, []string{"--conf", "spark.executor.instances=2", "local:///job.py"})
	want := []string{
		"/spark/bin/spark-submit",
		"--master", "k8s://https://127.0.0.1:6443",
		"--deploy-mode", "cluster",
		"--conf", "spark.kubernetes.container.image=sparkplane.local/spark:3.5.9",
		"--conf", "spark.kubernetes.namespace=default",
		"--conf", "spark.kubernetes.driver.master=https://127.0.0.1:6443",
		"--conf", "spark.kubernetes.trust.certificates=true",
		"--conf", "spark.kubernetes.submission.waitAppCompletion=true",
		"--conf", "spark.pyspark.python=/venv/bin/python",
		"--conf", "spark.pyspark.driver.python=/venv/bin/python",
		"--conf", "spark.executor.instances=2",
		"local:///job.py",
	}
	if !reflect.DeepEqual(cmd.Args, want) {
		t.Errorf("args:\n got %q\nwant %q", cmd.Args, want)
	}
	env := strings.Join(cmd.Env, "\n")
	for _, kv := range []string{"KUBECONFIG=/k/config", "SPARK_HOME=/spark", "PYSPARK_PYTHON=/venv/bin/python"} {
		if !strings.Contains(env, kv) {
			t.Errorf("env lacks %s", kv)
		}
	}
	c.Namespace = "spark"
	if args := strings.Join(d.SubmitCommand(context.Background(), c, nil).Args, " "); !strings.Contains(args, "spark.kubernetes.namespace=spark") {
		t.Errorf("namespace not passed: %s", args)
	}
}

// The first install (hack/install-spark.sh, here with a python3 whose
// "venv" and "pip" only lay out files) prints what it does, step by step.
func TestFindWithProgressShowsInstallSteps(t *testing.T) {
	bin := t.TempDir()
	python3 := `#!/bin/sh
# python3 -m venv DIR: a venv whose pip installs a fake pyspark.
venv="$3"
mkdir -p "$venv/bin"
site="$venv/lib/python3.12/site-packages/pyspark"
printf '#!/bin/sh\nmkdir -p %s/bin %s/jars\nprintf "#!/bin/sh\\n" > %s/bin/spark-submit\nchmod +x %s/bin/spark-submit\ntouch %s/jars/spark-core_2.12-3.5.9.jar %s/jars/spark-kubernetes_2.12-3.5.9.jar\n' "$site" "$site" "$site" "$site" "$site" "$site" > "$venv/bin/pip"
printf '#!/bin/sh\necho %s\n' "$site" > "$venv/bin/python"
chmod +x "$venv/bin/pip" "$venv/bin/python"
`
	for name, content := range map[string]string{"java": "#!/bin/sh\n", "python3": python3} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	t.Setenv("JAVA_HOME", "")
	t.Setenv("SPARK_HOME", "")
	t.Setenv("SPARKPLANE_CACHE", t.TempDir())
	var progress strings.Builder
	d, err := FindWithProgress(context.Background(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != "3.5.9" {
		t.Errorf("version %q", d.Version)
	}
	for _, want := range []string{"installing pyspark==3.5.9", "(about 320 MB, once; about a minute)", "pip install pyspark==3.5.9", "installed pyspark==3.5.9 in"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
}
