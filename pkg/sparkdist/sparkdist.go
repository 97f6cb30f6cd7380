// Package sparkdist finds a local Apache Spark installation and builds the
// spark-submit command that runs an application in cluster mode against a
// local cluster (a sparkplane control plane whose pods are run as local
// processes by pkg/kubelet).
package sparkdist

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Module is the module path that marks the repository root.
const Module = "github.com/sparkplane/sparkplane"

// ImageRepository is the repository of the placeholder image set on Spark
// pods. No image is ever pulled: the kubelet runs Spark from Dist.Home.
const ImageRepository = "sparkplane.local/spark"

// Dist is a local Spark installation.
type Dist struct {
	// Home is SPARK_HOME (holds bin/spark-submit and jars/).
	Home string
	// Python is a Python interpreter that can import pyspark; drivers and
	// executors use it as PYSPARK_PYTHON.
	Python string
	// Version is Spark's version, e.g. "3.5.9" (from jars/spark-core_*.jar).
	Version string
}

// Find returns the Spark installation: $SPARK_HOME if set (Python from
// $PYSPARK_PYTHON, else python3 on PATH), else the one hack/install-spark.sh
// installs (and prints) in the repository's cache; the repository root is
// the nearest parent of the working directory whose go.mod declares Module.
// It also checks that java can be found, since every driver and executor is
// a JVM.
func Find(ctx context.Context) (*Dist, error) {
	return FindWithProgress(ctx, nil)
}

// FindWithProgress is Find that copies hack/install-spark.sh's progress
// lines (what it installs, how long it took) to progress, if not nil.
func FindWithProgress(ctx context.Context, progress io.Writer) (*Dist, error) {
	if _, err := JavaPath(); err != nil {
		return nil, err
	}
	var d *Dist
	var err error
	if home := os.Getenv("SPARK_HOME"); home != "" {
		d, err = fromSparkHome(home)
	} else {
		d, err = install(ctx, progress)
	}
	if err != nil {
		return nil, err
	}
	if d.Version, err = version(d.Home); err != nil {
		return nil, err
	}
	return d, nil
}

// JavaPath returns the java executable the way Spark's scripts pick it:
// $JAVA_HOME/bin/java when JAVA_HOME is set, else java on PATH.
func JavaPath() (string, error) {
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		p := filepath.Join(jh, "bin", "java")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("java not found at $JAVA_HOME/bin/java (%s): install Java 17 or fix JAVA_HOME: %w", p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", errors.New("java not found on PATH: install Java 17 (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
	}
	return p, nil
}

func fromSparkHome(home string) (*Dist, error) {
	if err := checkHome(home); err != nil {
		return nil, fmt.Errorf("SPARK_HOME=%s: %w (unset SPARK_HOME to use hack/install-spark.sh)", home, err)
	}
	python := os.Getenv("PYSPARK_PYTHON")
	if python == "" {
		python = "python3"
	}
	p, err := exec.LookPath(python)
	if err != nil {
		return nil, fmt.Errorf("python %q not found: install Python 3 with pyspark or set PYSPARK_PYTHON: %w", python, err)
	}
	return &Dist{Home: home, Python: p}, nil
}

func checkHome(home string) error {
	if _, err := os.Stat(filepath.Join(home, "bin", "spark-submit")); err != nil {
		return fmt.Errorf("not a Spark installation (no bin/spark-submit): %w", err)
	}
	return nil
}

// RunRepoScript runs the repository's hack/<name> (found from the working
// directory) with args and returns the last line it printed on stdout;
// its stderr (progress lines) is copied to progress and quoted in errors.
func RunRepoScript(ctx context.Context, progress io.Writer, name string, args ...string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the working directory: %w", err)
	}
	root, err := RepoRoot(wd)
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "hack", name)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if progress != nil {
		cmd.Stderr = io.MultiWriter(&stderr, progress)
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("running %s: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	out := lastLine(stdout.String())
	if out == "" {
		return "", fmt.Errorf("%s printed nothing on stdout: %s", script, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// install runs hack/install-spark.sh, which is idempotent and prints
// SPARK_HOME on its last line (progress goes to stderr, copied to progress).
func install(ctx context.Context, progress io.Writer) (*Dist, error) {
	const script = "hack/install-spark.sh"
	home, err := RunRepoScript(ctx, progress, "install-spark.sh")
	if err != nil {
		return nil, fmt.Errorf("%w; set SPARK_HOME to use another Spark installation", err)
	}
	if err := checkHome(home); err != nil {
		return nil, fmt.Errorf("%s printed SPARK_HOME=%s: %w", script, home, err)
	}
	// pyspark lives in <venv>/lib/python3.X/site-packages/pyspark.
	python := filepath.Join(home, "..", "..", "..", "..", "bin", "python")
	python = filepath.Clean(python)
	if _, err := os.Stat(python); err != nil {
		return nil, fmt.Errorf("venv python of %s: %w (remove the .cache/spark directory and run %s again)", home, err, script)
	}
	return &Dist{Home: home, Python: python}, nil
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}

// RepoRoot returns the nearest directory at or above dir whose go.mod
// declares Module.
func RepoRoot(dir string) (string, error) {
	for d := filepath.Clean(dir); ; {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && declaresModule(data) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no sparkplane repository (go.mod of module %s) at or above %s", Module, dir)
		}
		d = parent
	}
}

func declaresModule(gomod []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == Module {
			return true
		}
	}
	return false
}

var sparkCoreJar = regexp.MustCompile(`^spark-core_[0-9.]+-(.+)\.jar$`)

// version reads Spark's version from the name of its core jar, which every
// distribution (tarball or pip) ships.
func version(home string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(home, "jars"))
	if err != nil {
		return "", fmt.Errorf("reading Spark's jars: %w", err)
	}
	for _, e := range entries {
		if m := sparkCoreJar.FindStringSubmatch(e.Name()); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("no spark-core jar in %s: not a complete Spark installation", filepath.Join(home, "jars"))
}

// Cluster is where SubmitCommand submits to.
type Cluster struct {
	// APIServerURL is the kube-apiserver, e.g. https://127.0.0.1:41234.
	APIServerURL string
	// Namespace of the driver and executor pods ("default" when empty).
	Namespace string
	// Kubeconfig is a kubeconfig file with credentials for APIServerURL.
	Kubeconfig string
}

// Image is the placeholder container image set on the pods of this Spark
// version; the kubelet never pulls it.
func (d *Dist) Image() string { return ImageRepository + ":" + d.Version }

// SubmitConfs returns the spark-submit flags for cluster mode against c,
// before the user's own arguments (which can override every --conf).
func (d *Dist) SubmitConfs(c Cluster) []string {
	ns := c.Namespace
	if ns == "" {
		ns = "default"
	}
	confs := []string{
		// Pods need an image; nothing pulls it (the kubelet runs the
		// processes from Home), so it only names the Spark version.
		"spark.kubernetes.container.image=" + d.Image(),
		"spark.kubernetes.namespace=" + ns,
		// The driver runs as a local process, not inside the cluster:
		// kubernetes.default.svc (the default) does not resolve. The
		// driver's client gets its credentials from KUBECONFIG, which the
		// kubelet sets for driver processes.
		"spark.kubernetes.driver.master=" + c.APIServerURL,
		// The local control plane's kubeconfig trusts only the apiserver's
		// loopback certificate, which the apiserver presents for the TLS
		// server name apiserver-loopback-client; fabric8 sends no server
		// name for an IP address and gets the serving certificate, signed
		// by a CA it does not know ("PKIX path building failed"). The
		// apiserver listens on loopback only. Used by spark-submit and,
		// through spark.properties, by the driver's client.
		"spark.kubernetes.trust.certificates=true",
		// spark-submit stays until the driver pod ends, so its exit tells
		// the caller that the application finished.
		"spark.kubernetes.submission.waitAppCompletion=true",
		// Python on the driver and in executors' Python workers: the
		// interpreter that can import this pyspark.
		"spark.pyspark.python=" + d.Python,
		"spark.pyspark.driver.python=" + d.Python,
	}
	out := []string{"--master", "k8s://" + c.APIServerURL, "--deploy-mode", "cluster"}
	for _, c := range confs {
		out = append(out, "--conf", c)
	}
	return out
}

// SubmitCommand returns `spark-submit` in cluster mode against c with
// SubmitConfs and then args (options, the application resource, its
// arguments). Its environment is this process's plus:
//   - KUBECONFIG=c.Kubeconfig: Spark's Kubernetes client (fabric8) reads
//     its credentials from there (its autoConfigure), so no
//     spark.kubernetes.authenticate.submission.* files are needed.
//   - SPARK_HOME and PYSPARK_PYTHON of d.
func (d *Dist) SubmitCommand(ctx context.Context, c Cluster, args []string) *exec.Cmd {
	argv := append(d.SubmitConfs(c), args...)
	cmd := exec.CommandContext(ctx, filepath.Join(d.Home, "bin", "spark-submit"), argv...)
	cmd.Env = append(os.Environ(),
		"SPARK_HOME="+d.Home,
		"PYSPARK_PYTHON="+d.Python,
	)
	if c.Kubeconfig != "" {
		cmd.Env = append(cmd.Env, "KUBECONFIG="+c.Kubeconfig)
	}
	return cmd
}
