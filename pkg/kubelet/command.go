package kubelet

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

// Paths of the apache/spark image that have a local counterpart.
const (
	imageSparkHome = "/opt/spark"
	imageWorkDir   = "/opt/spark/work-dir"
)

// Spark's executor entrypoint class.
const executorBackend = "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend"

// sparkContainer returns the container Spark's image entrypoint would run in
// driver or executor mode, and that mode: a pod labelled spark-role whose
// container has no command override and args[0] "driver" or "executor".
// Other pods (and a Spark pod's other containers) are not executed.
func sparkContainer(pod *corev1.Pod) (*corev1.Container, spark.Role) {
	if _, ok := pod.Labels[spark.LabelRole]; !ok {
		return nil, spark.RoleNone
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if len(c.Command) != 0 || len(c.Args) == 0 {
			continue
		}
		switch c.Args[0] {
		case string(spark.RoleDriver):
			return c, spark.RoleDriver
		case string(spark.RoleExecutor):
			return c, spark.RoleExecutor
		}
	}
	return nil, spark.RoleNone
}

// pathMapping maps a path of the container's filesystem to a local path.
type pathMapping struct {
	From, To string
}

// pathRewriter rewrites container paths in strings (args, env values).
type pathRewriter []pathMapping

// newPathRewriter orders the mappings longest first, so that a mount at
// /opt/spark/conf wins over the image's /opt/spark.
func newPathRewriter(m []pathMapping) pathRewriter {
	r := make(pathRewriter, 0, len(m))
	for _, p := range m {
		if p.From != "" && p.From != "/" {
			r = append(r, pathMapping{strings.TrimRight(p.From, "/"), p.To})
		}
	}
	sort.SliceStable(r, func(i, j int) bool { return len(r[i].From) > len(r[j].From) })
	return r
}

// isNameChar reports whether c can be part of a file name as written in
// Spark's args and confs; a path prefix only matches up to such a boundary.
func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("._-~+@%", c) >= 0
}

// startsPath reports whether a path may start at s[i]: at the start, after
// a separator such as '=', ':', ',' or a space (-Dx=/p, a:/p, --f /p), or
// after a URI's "//" (local:///p).
func startsPath(s string, i int) bool {
	if i == 0 {
		return true
	}
	prev := s[i-1]
	if prev == '/' {
		return strings.HasSuffix(s[:i], "://")
	}
	return !isNameChar(prev)
}

// Rewrite replaces each container path prefix in s by its local directory,
// in one pass (replaced text is not rewritten again).
func (r pathRewriter) Rewrite(s string) string {
	if len(r) == 0 || !strings.Contains(s, "/") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		if s[i] == '/' && startsPath(s, i) {
			for _, m := range r {
				end := i + len(m.From)
				if strings.HasPrefix(s[i:], m.From) && (end == len(s) || !isNameChar(s[end])) {
					b.WriteString(m.To)
					i = end
					matched = true
					break
				}
			}
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// commandInput is everything buildCommand needs: the Spark container's
// args and resolved environment, and where things are on this machine.
type commandInput struct {
	Role spark.Role
	// Args are the container's args ($(VAR) not yet expanded); Args[0] is
	// the entrypoint mode.
	Args []string
	// Env is the container's resolved environment (see resolveEnv).
	Env []envVar
	// Mounts map the container's volumeMounts to local directories.
	Mounts []pathMapping
	// Host is the kubelet's own environment that processes inherit: PATH,
	// JAVA_HOME, HOME, ...
	Host []envVar

	SparkHome string
	Python    string // default PYSPARK_PYTHON
	Java      string // the java executable for executors
	WorkDir   string // the process's working directory (the image's /opt/spark/work-dir)
	HostsFile string
	PodIP     string
	Hostname  string
	// Kubeconfig is set as KUBECONFIG for drivers.
	Kubeconfig string
}

// command is a process to start.
type command struct {
	Path string
	Args []string // without argv[0]
	Env  []string // sorted KEY=value
	Dir  string
}

// buildCommand translates a Spark container into a local process the way
// the apache/spark image's entrypoint.sh does, after rewriting container
// paths (volume mounts, /opt/spark/work-dir, /opt/spark) to local ones:
//
//	executor: java <SPARK_JAVA_OPT_* in index order> -Xms$SPARK_EXECUTOR_MEMORY
//	  -Xmx$SPARK_EXECUTOR_MEMORY -cp <classpath> KubernetesExecutorBackend
//	  --driver-url ... --podName $SPARK_EXECUTOR_POD_NAME
//	driver ARGS: spark-submit --conf spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS
//	  --conf spark.executorEnv.SPARK_DRIVER_POD_IP=... --deploy-mode client ARGS
//
// Every JVM gets -Djdk.net.hosts.file=<HostsFile> (executors on the
// command line, drivers through SPARK_SUBMIT_OPTS): the pod's view of
// names, since there is no cluster DNS.
func buildCommand(in commandInput) (command, error) {
	rw := newPathRewriter(append(append([]pathMapping{}, in.Mounts...),
		pathMapping{imageWorkDir, in.WorkDir}, pathMapping{imageSparkHome, in.SparkHome}))

	podEnv := make([]envVar, len(in.Env))
	for i, e := range in.Env {
		podEnv[i] = envVar{e.Name, rw.Rewrite(e.Value)}
	}
	vars := envMap(podEnv)
	args := expandArgs(in.Args, envMap(in.Env))
	for i := range args {
		args[i] = rw.Rewrite(args[i])
	}
	if len(args) == 0 || args[0] != string(in.Role) {
		return command{}, fmt.Errorf("container args must start with %q, got %q", in.Role, args)
	}

	// PATH and JAVA_HOME always come from the kubelet's own environment:
	// the image's values mean nothing on this machine.
	forcedHostEnv := []string{"PATH", "JAVA_HOME"}
	env := map[string]string{}
	for _, e := range in.Host {
		env[e.Name] = e.Value
	}
	for _, e := range podEnv {
		env[e.Name] = e.Value
	}
	for _, name := range forcedHostEnv {
		delete(env, name)
	}
	for _, e := range in.Host {
		for _, name := range forcedHostEnv {
			if e.Name == name {
				env[name] = e.Value
			}
		}
	}
	env["SPARK_HOME"] = in.SparkHome
	// Spark's Utils.findLocalInetAddress would otherwise resolve the
	// machine's hostname, which the pod's hosts file maps to the pod IP
	// anyway; the variable makes the choice explicit and also sets the UI's
	// bind address.
	env["SPARK_LOCAL_IP"] = in.PodIP
	env["HOSTNAME"] = in.Hostname
	if _, ok := env["PYSPARK_PYTHON"]; !ok && in.Python != "" {
		env["PYSPARK_PYTHON"] = in.Python
	}
	hostsOpt := "-Djdk.net.hosts.file=" + in.HostsFile

	var cmd command
	switch in.Role {
	case spark.RoleExecutor:
		for _, name := range []string{"SPARK_DRIVER_URL", "SPARK_EXECUTOR_ID", "SPARK_APPLICATION_ID", "SPARK_EXECUTOR_MEMORY"} {
			if vars[name] == "" {
				return command{}, fmt.Errorf("executor container has no %s", name)
			}
		}
		cmd.Path = in.Java
		cmd.Args = append(cmd.Args, hostsOpt)
		cmd.Args = append(cmd.Args, javaOpts(podEnv)...)
		cmd.Args = append(cmd.Args,
			"-Xms"+vars["SPARK_EXECUTOR_MEMORY"],
			"-Xmx"+vars["SPARK_EXECUTOR_MEMORY"],
			"-cp", executorClasspath(vars, in.SparkHome, in.WorkDir),
			executorBackend,
			"--driver-url", vars["SPARK_DRIVER_URL"],
			"--executor-id", vars["SPARK_EXECUTOR_ID"],
			"--cores", vars["SPARK_EXECUTOR_CORES"],
			"--app-id", vars["SPARK_APPLICATION_ID"],
			"--hostname", vars["SPARK_EXECUTOR_POD_IP"],
			"--resourceProfileId", vars["SPARK_RESOURCE_PROFILE_ID"],
			"--podName", vars["SPARK_EXECUTOR_POD_NAME"],
		)
	case spark.RoleDriver:
		bind := vars["SPARK_DRIVER_BIND_ADDRESS"]
		if bind == "" {
			bind = in.PodIP
		}
		cmd.Path = filepath.Join(in.SparkHome, "bin", "spark-submit")
		cmd.Args = append([]string{
			"--conf", "spark.driver.bindAddress=" + bind,
			"--conf", "spark.executorEnv.SPARK_DRIVER_POD_IP=" + bind,
			"--deploy-mode", "client",
		}, args[1:]...)
		env["SPARK_SUBMIT_OPTS"] = strings.TrimSpace(env["SPARK_SUBMIT_OPTS"] + " " + quoteOpt(hostsOpt))
		if in.Kubeconfig != "" {
			env["KUBECONFIG"] = in.Kubeconfig
		}
	default:
		return command{}, fmt.Errorf("unknown Spark role %q", in.Role)
	}
	cmd.Dir = in.WorkDir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	sort.Strings(cmd.Env)
	return cmd, nil
}

// javaOpts returns the values of SPARK_JAVA_OPT_<n> by numeric n. (The
// entrypoint's "${!SPARK_JAVA_OPT_@}" sorts names as strings, which puts
// _10 before _2; Spark numbers them in the order it wants them.)
func javaOpts(env []envVar) []string {
	type opt struct {
		idx  int
		name string
		val  string
	}
	var opts []opt
	for _, e := range env {
		suffix, ok := strings.CutPrefix(e.Name, "SPARK_JAVA_OPT_")
		if !ok {
			continue
		}
		idx, err := strconv.Atoi(suffix)
		if err != nil {
			idx = int(^uint(0) >> 1) // non-numeric suffixes last, by name
		}
		opts = append(opts, opt{idx, e.Name, e.Value})
	}
	sort.Slice(opts, func(i, j int) bool {
		if opts[i].idx != opts[j].idx {
			return opts[i].idx < opts[j].idx
		}
		return opts[i].name < opts[j].name
	})
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.val
	}
	return out
}

// executorClasspath mirrors entrypoint.sh: [SPARK_CONF_DIR or
// SPARK_HOME/conf] [HADOOP_CONF_DIR] [SPARK_CLASSPATH] SPARK_HOME/jars/*
// [SPARK_EXTRA_CLASSPATH] workdir [SPARK_DIST_CLASSPATH], without empty
// entries (Java reads an empty entry as the working directory).
func executorClasspath(vars map[string]string, sparkHome, workDir string) string {
	confDir := vars["SPARK_CONF_DIR"]
	if confDir == "" {
		confDir = filepath.Join(sparkHome, "conf")
	}
	var parts []string
	for _, p := range []string{
		confDir,
		vars["HADOOP_CONF_DIR"],
		vars["SPARK_CLASSPATH"],
		filepath.Join(sparkHome, "jars") + "/*",
		vars["SPARK_EXTRA_CLASSPATH"],
		workDir,
		vars["SPARK_DIST_CLASSPATH"],
	} {
		for _, e := range strings.Split(p, ":") {
			if e != "" {
				parts = append(parts, e)
			}
		}
	}
	return strings.Join(parts, ":")
}

// quoteOpt quotes a JVM option for SPARK_SUBMIT_OPTS, which Spark's launcher
// splits on whitespace unless quoted.
func quoteOpt(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
