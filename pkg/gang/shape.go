package gang

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Annotations on the driver pod that override what the Spark conf says, for
// client mode (no mounted conf) or odd cases. Set them with
// spark.kubernetes.driver.annotation.<key>=<value>.
const (
	// AnnotationGangMinExecutors is how many executors the gang reserves.
	AnnotationGangMinExecutors = "sparkplane.io/gang-min-executors"
	// AnnotationExecutorCPU is one executor's cpu request (a quantity).
	AnnotationExecutorCPU = "sparkplane.io/executor-cpu"
	// AnnotationExecutorMemory is one executor's memory request (a quantity).
	AnnotationExecutorMemory = "sparkplane.io/executor-memory"
)

// UnlimitedExecutors is spark.dynamicAllocation.maxExecutors' default
// (Int.MaxValue in Spark).
const UnlimitedExecutors = math.MaxInt32

// AppType is Spark's spark.kubernetes.resource.type: the language of the
// app's main resource.
type AppType string

const (
	AppJava   AppType = "java"
	AppPython AppType = "python"
	AppR      AppType = "r"
)

// Shape is what one Spark app asks of the cluster.
type Shape struct {
	// Driver is the driver pod's request.
	Driver Resources
	// Executor is one executor pod's request.
	Executor Resources
	// MinExecutors is the gang: executors reserved together with the driver.
	MinExecutors int
	// InitialExecutors is how many executors Spark asks for at start.
	InitialExecutors int
	// MaxExecutors is the most Spark will run (UnlimitedExecutors if unset).
	MaxExecutors int
	// DynamicAllocation is spark.dynamicAllocation.enabled.
	DynamicAllocation bool
	AppType           AppType
	// Derivation says in words where each number came from.
	Derivation Reasons
}

// Gang is what the driver plus the minimum executors request together.
func (s Shape) Gang() Resources { return s.Driver.Add(s.Executor.Times(s.MinExecutors)) }

// Spark configuration keys read by ShapeFromConf (Spark 3.3-4.x names).
const (
	confInstances         = "spark.executor.instances"
	confDynEnabled        = "spark.dynamicAllocation.enabled"
	confDynMin            = "spark.dynamicAllocation.minExecutors"
	confDynInitial        = "spark.dynamicAllocation.initialExecutors"
	confDynMax            = "spark.dynamicAllocation.maxExecutors"
	confShuffleTracking   = "spark.dynamicAllocation.shuffleTracking.enabled"
	confShuffleService    = "spark.shuffle.service.enabled"
	confRequestCores      = "spark.kubernetes.executor.request.cores"
	confCores             = "spark.executor.cores"
	confMemory            = "spark.executor.memory"
	confOverhead          = "spark.executor.memoryOverhead"
	confMinOverhead       = "spark.executor.minMemoryOverhead"
	confOverheadFactor    = "spark.executor.memoryOverheadFactor"
	confK8sOverheadFactor = "spark.kubernetes.memoryOverheadFactor"
	confOffHeapEnabled    = "spark.memory.offHeap.enabled"
	confOffHeapSize       = "spark.memory.offHeap.size"
	confPySparkMemory     = "spark.executor.pyspark.memory"
	confResourceType      = "spark.kubernetes.resource.type"
	confExecutorTemplate  = "spark.kubernetes.executor.podTemplateFile"
)

// Spark's defaults (ResourceProfile, SchedulerBackendUtils, config/package.scala).
const (
	defaultInstances      = 2    // SchedulerBackendUtils.DEFAULT_NUMBER_EXECUTORS
	defaultHeapMiB        = 1024 // spark.executor.memory=1g
	defaultMinOverheadMiB = 384  // ResourceProfile.MEMORY_OVERHEAD_MIN_MIB
	defaultFactor         = 0.10
	nonJVMFactor          = 0.40 // Constants.NON_JVM_MEMORY_OVERHEAD_FACTOR
)

// ShapeFromConf derives an app's shape from its driver's spark.properties
// (props, nil when there is none, as in client mode) and driver pod (nil if
// unknown). Warnings are things worth telling the user that do not stop the
// app; the error names every invalid conf or annotation and its value.
func ShapeFromConf(props map[string]string, driver *corev1.Pod) (Shape, []string, error) {
	c := &sparkConf{props: props}
	var s Shape
	var warns []string
	if props == nil {
		warns = append(warns, "no Spark properties found for the driver: Spark's defaults are assumed (set the "+
			AnnotationGangMinExecutors+", "+AnnotationExecutorCPU+" and "+AnnotationExecutorMemory+" annotations in client mode)")
	}

	if driver != nil {
		s.Driver = PodRequests(driver)
		if s.Driver.IsZero() {
			warns = append(warns, "driver pod "+driver.Name+" requests no cpu or memory: the gang counts it as 0")
		}
		s.Derivation = append(s.Derivation, "driver "+s.Driver.String()+" (the driver pod's requests)")
	} else {
		warns = append(warns, "no driver pod: the gang counts the driver as 0")
	}

	var how string
	s.AppType, how = appType(c, driver, &warns)
	s.Derivation = append(s.Derivation, "app type "+string(s.AppType)+" ("+how+")")

	c.executorCount(&s, &warns)
	c.executorCPU(&s)
	c.executorMemory(&s, &warns)

	if props[confExecutorTemplate] != "" {
		warns = append(warns, "executors use a pod template ("+confExecutorTemplate+"): sidecars in it are not counted in the executor size")
	}
	var gpus []string
	for k := range props {
		if strings.HasPrefix(k, "spark.executor.resource.") && strings.HasSuffix(k, ".amount") {
			gpus = append(gpus, k)
		}
	}
	if len(gpus) > 0 {
		sort.Strings(gpus)
		warns = append(warns, "custom executor resources ("+strings.Join(gpus, ", ")+") are not reserved by the gang, only cpu and memory")
	}

	if driver != nil {
		c.overrides(&s, driver.Annotations)
	}
	if len(c.errs) > 0 {
		return Shape{}, warns, fmt.Errorf("sparkplane: %s", strings.Join(c.errs, "; "))
	}
	return s, warns, nil
}

func (c *sparkConf) executorCount(s *Shape, warns *[]string) {
	instances, haveInstances := c.integer(confInstances, defaultInstances, 0)
	s.DynamicAllocation = c.boolean(confDynEnabled, false)
	if !s.DynamicAllocation {
		s.MinExecutors, s.InitialExecutors, s.MaxExecutors = instances, instances, instances
		src := confInstances
		if !haveInstances {
			src = "Spark's default; " + confInstances + " is not set"
		}
		s.Derivation = append(s.Derivation, fmt.Sprintf("%d executors, all in the gang (static allocation, %s)", instances, src))
		return
	}
	// Spark: ExecutorAllocationManager.validateSettings and
	// Utils.getDynamicAllocationInitialExecutors.
	lo, _ := c.integer(confDynMin, 0, 0)
	initial, haveInitial := c.integer(confDynInitial, lo, 0)
	hi, haveMax := c.integer(confDynMax, UnlimitedExecutors, 1)
	if lo > hi {
		c.errs = append(c.errs, fmt.Sprintf("%s=%d is above %s=%d", confDynMin, lo, confDynMax, hi))
	}
	if haveInitial && initial < lo {
		*warns = append(*warns, fmt.Sprintf("%s=%d is below %s=%d: Spark starts with %d", confDynInitial, initial, confDynMin, lo, lo))
	}
	start := max(lo, initial)
	if haveInstances {
		start = max(start, instances)
	}
	if start > hi {
		*warns = append(*warns, fmt.Sprintf("Spark asks for %d initial executors, above %s=%d", start, confDynMax, hi))
	}
	if c.has(confShuffleTracking) && !c.boolean(confShuffleTracking, true) && !c.boolean(confShuffleService, false) {
		*warns = append(*warns, "dynamic allocation without "+confShuffleTracking+" or a shuffle service: Spark refuses to start on Kubernetes")
	}
	s.MinExecutors, s.InitialExecutors, s.MaxExecutors = lo, start, hi
	maxWords := strconv.Itoa(hi)
	if !haveMax {
		maxWords = "unlimited"
	}
	s.Derivation = append(s.Derivation, fmt.Sprintf("dynamic allocation: min %d, initial %d, max %s executors; the gang reserves the minimum", lo, start, maxWords))
}

func (c *sparkConf) executorCPU(s *Shape) {
	// BasicExecutorFeatureStep: the cpu request is request.cores if set,
	// else spark.executor.cores.
	if v, ok := c.get(confRequestCores); ok {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			c.errs = append(c.errs, fmt.Sprintf("%s=%q is not a positive cpu quantity (such as 500m or 2)", confRequestCores, v))
			return
		}
		s.Executor.MilliCPU = q.MilliValue()
		s.Derivation = append(s.Derivation, "executor cpu "+cpuString(s.Executor.MilliCPU)+" ("+confRequestCores+")")
		return
	}
	cores, ok := c.integer(confCores, 1, 1)
	src := confCores
	if !ok {
		src = "Spark's default; " + confCores + " is not set"
	}
	s.Executor.MilliCPU = int64(cores) * 1000
	s.Derivation = append(s.Derivation, "executor cpu "+cpuString(s.Executor.MilliCPU)+" ("+src+")")
}

// executorMemory follows Spark 3.5's ResourceProfile.getResourcesForClusterManager,
// called by BasicExecutorFeatureStep, which sets request = limit =
// totalMemMiB "Mi" on the executor container:
//
//	totalMemMiB = executorMemoryMiB + memoryOverheadMiB + memoryOffHeapMiB + pysparkMemToUseMiB
//	memoryOverheadMiB = spark.executor.memoryOverhead, else
//	    max((overheadFactor * executorMemoryMiB).toInt, spark.executor.minMemoryOverhead (4.0+; 384 before))
//	overheadFactor = spark.executor.memoryOverheadFactor if set, else spark.kubernetes.memoryOverheadFactor
//	memoryOffHeapMiB = spark.memory.offHeap.size (bytes) / 1MiB when spark.memory.offHeap.enabled, else 0
//	pysparkMemToUseMiB = spark.executor.pyspark.memory only when isPythonApp
//	    (spark.kubernetes.resource.type == python), else 0
//
// The 0.4 non-JVM factor is decided on the driver side (BasicDriverFeatureStep,
// for NonJVMResource apps without an explicit factor) and propagated to the
// executors as spark.kubernetes.memoryOverheadFactor in the driver's
// properties; applying it here when no factor is set covers confs Spark did
// not resolve (client mode, hand-written properties).
func (c *sparkConf) executorMemory(s *Shape, warns *[]string) {
	heap, _ := c.mib(confMemory, defaultHeapMiB, mebi)
	parts := []string{"heap " + mibString(heap)}

	var overhead int64
	if v, ok := c.mib(confOverhead, 0, mebi); ok {
		overhead = v
		parts = append(parts, "overhead "+mibString(v)+" ("+confOverhead+")")
	} else {
		factor, src := defaultFactor, "default"
		if f, ok := c.factor(confOverheadFactor, false); ok {
			factor, src = f, confOverheadFactor
		} else if f, ok := c.factor(confK8sOverheadFactor, true); ok {
			factor, src = f, confK8sOverheadFactor
		} else if s.AppType != AppJava {
			factor, src = nonJVMFactor, "the non-JVM default for a "+string(s.AppType)+" app"
		}
		minOverhead, minSet := c.mib(confMinOverhead, defaultMinOverheadMiB, mebi)
		overhead = scalaToInt(factor * float64(heap))
		words := fmt.Sprintf("overhead %s (%g x heap, %s)", mibString(overhead), factor, src)
		if overhead < minOverhead {
			overhead = minOverhead
			floor := "Spark's minimum"
			if minSet {
				floor = confMinOverhead
			}
			words = fmt.Sprintf("overhead %s (%s; %g x heap, %s, is less)", mibString(overhead), floor, factor, src)
		}
		parts = append(parts, words)
	}
	total := heap + overhead

	if c.boolean(confOffHeapEnabled, false) {
		// spark.memory.offHeap.size counts bytes when no unit is given;
		// Utils.checkOffHeapEnabled requires it to be positive.
		off, _ := c.mib(confOffHeapSize, 0, 1)
		if off <= 0 && !c.failed(confOffHeapSize) {
			c.errs = append(c.errs, fmt.Sprintf("%s=%q must be at least 1m when %s=true", confOffHeapSize, c.props[confOffHeapSize], confOffHeapEnabled))
		}
		total += off
		parts = append(parts, "off-heap "+mibString(off))
	}
	if v, ok := c.mib(confPySparkMemory, 0, mebi); ok {
		if s.AppType == AppPython {
			total += v
			parts = append(parts, "pyspark "+mibString(v))
		} else {
			*warns = append(*warns, confPySparkMemory+" is set but the app is not a Python app: Spark ignores it")
		}
	}
	if total > math.MaxInt64>>20 {
		c.errs = append(c.errs, fmt.Sprintf("executor memory of %d MiB is too large", total))
		return
	}
	s.Executor.Memory = total << 20
	s.Derivation = append(s.Derivation, "executor memory "+mibString(total)+" = "+strings.Join(parts, " + "))
}

// overrides applies the driver annotations, which win over the conf.
func (c *sparkConf) overrides(s *Shape, ann map[string]string) {
	if v, ok := ann[AnnotationGangMinExecutors]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil || n < 0:
			c.errs = append(c.errs, fmt.Sprintf("annotation %s=%q is not a whole number >= 0", AnnotationGangMinExecutors, v))
		case n > s.MaxExecutors:
			c.errs = append(c.errs, fmt.Sprintf("annotation %s=%q is above the %d executors Spark will ever run", AnnotationGangMinExecutors, v, s.MaxExecutors))
		default:
			s.MinExecutors = n
			s.Derivation = append(s.Derivation, fmt.Sprintf("gang of %d executors (annotation %s)", n, AnnotationGangMinExecutors))
		}
	}
	for _, a := range []struct {
		key string
		dst *int64
		get func(resource.Quantity) int64
		str func(int64) string
	}{
		{AnnotationExecutorCPU, &s.Executor.MilliCPU, func(q resource.Quantity) int64 { return q.MilliValue() }, cpuString},
		{AnnotationExecutorMemory, &s.Executor.Memory, func(q resource.Quantity) int64 { return q.Value() }, memString},
	} {
		v, ok := ann[a.key]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(v))
		if err != nil || q.Sign() <= 0 || tooLarge(q) {
			c.errs = append(c.errs, fmt.Sprintf("annotation %s=%q is not a positive Kubernetes quantity (such as 2, 500m, 4Gi)", a.key, v))
			continue
		}
		*a.dst = a.get(q)
		s.Derivation = append(s.Derivation, "executor "+a.str(*a.dst)+" (annotation "+a.key+")")
	}
}

// tooLarge bounds quantities (1Pi bytes, or that many cores) so that the
// int64 conversions cannot overflow.
func tooLarge(q resource.Quantity) bool {
	return q.Cmp(*resource.NewQuantity(1<<50, resource.BinarySI)) > 0
}

// appType says whether the app is JVM, Python or R. Spark itself keys
// off spark.kubernetes.resource.type, which spark-submit writes into the
// driver's properties in cluster mode; the driver's arguments
// (DriverCommandFeatureStep: driver --properties-file F --class C resource
// args...) are the fallback.
func appType(c *sparkConf, driver *corev1.Pod, warns *[]string) (AppType, string) {
	if v, ok := c.get(confResourceType); ok {
		switch t := AppType(strings.ToLower(v)); t {
		case AppJava, AppPython, AppR:
			return t, confResourceType
		}
		*warns = append(*warns, fmt.Sprintf("%s=%q is not java, python or r: guessing from the driver's arguments", confResourceType, v))
	}
	if driver != nil {
		for _, ct := range driver.Spec.Containers {
			if t, how := appTypeFromArgs(ct.Args); t != "" {
				return t, how
			}
		}
	}
	return AppJava, "default"
}

func appTypeFromArgs(args []string) (AppType, string) {
	if len(args) == 0 || args[0] != "driver" {
		return "", ""
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "--") {
			if a == "--class" && i+1 < len(args) {
				switch args[i+1] {
				case "org.apache.spark.deploy.PythonRunner":
					return AppPython, "driver argument --class " + args[i+1]
				case "org.apache.spark.deploy.RRunner":
					return AppR, "driver argument --class " + args[i+1]
				}
			}
			if !strings.Contains(a, "=") {
				i++ // the flag's value
			}
			continue
		}
		// The first positional argument is the main resource.
		switch strings.ToLower(path.Ext(a)) {
		case ".py":
			return AppPython, "main resource " + a
		case ".r":
			return AppR, "main resource " + a
		}
		return "", ""
	}
	return "", ""
}

// sparkConf reads typed values the way Spark's ConfigBuilder converters do
// (values trimmed; booleans true/false in any case) and collects errors.
type sparkConf struct {
	props map[string]string
	errs  []string
	bad   map[string]bool
}

func (c *sparkConf) has(key string) bool { _, ok := c.props[key]; return ok }

func (c *sparkConf) get(key string) (string, bool) {
	v, ok := c.props[key]
	return strings.TrimSpace(v), ok
}

func (c *sparkConf) fail(key, msg string) {
	c.errs = append(c.errs, fmt.Sprintf("%s=%q %s", key, c.props[key], msg))
	if c.bad == nil {
		c.bad = map[string]bool{}
	}
	c.bad[key] = true
}

func (c *sparkConf) failed(key string) bool { return c.bad[key] }

func (c *sparkConf) boolean(key string, def bool) bool {
	v, ok := c.get(key)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	if !c.failed(key) {
		c.fail(key, "is not true or false")
	}
	return def
}

// integer returns the value (or def) and whether the key was set validly.
func (c *sparkConf) integer(key string, def, least int) (int, bool) {
	v, ok := c.get(key)
	if !ok {
		return def, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || int(n) < least {
		c.fail(key, fmt.Sprintf("is not a whole number >= %d", least))
		return def, false
	}
	return int(n), true
}

// factor reads an overhead factor: Spark requires > 0 for
// spark.executor.memoryOverheadFactor and >= 0 for the Kubernetes one.
func (c *sparkConf) factor(key string, zeroOK bool) (float64, bool) {
	v, ok := c.get(key)
	if !ok {
		return 0, false
	}
	if n := len(v); n > 1 && strings.ContainsRune("dDfF", rune(v[n-1])) {
		v = v[:n-1] // Double.parseDouble accepts 0.4d and 0.4f
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || (f == 0 && !zeroOK) {
		bound := "> 0"
		if zeroOK {
			bound = ">= 0"
		}
		c.fail(key, "is not a number "+bound+" (such as 0.1)")
		return 0, false
	}
	return f, true
}

const mebi = 1 << 20

// byteSuffix is JavaUtils.byteSuffixes.
func byteSuffix(s string) (int64, bool) {
	switch s {
	case "b":
		return 1, true
	case "k", "kb":
		return 1 << 10, true
	case "m", "mb":
		return 1 << 20, true
	case "g", "gb":
		return 1 << 30, true
	case "t", "tb":
		return 1 << 40, true
	case "p", "pb":
		return 1 << 50, true
	}
	return 0, false
}

// mib reads a JVM size (JavaUtils.byteStringAs: digits and an optional
// suffix, no fractions) whose unit, when none is given, is unit bytes, and
// returns it in MiB, truncated as Spark's ByteUnit conversion does.
func (c *sparkConf) mib(key string, def int64, unit int64) (int64, bool) {
	v, ok := c.get(key)
	if !ok {
		return def, false
	}
	s := strings.ToLower(v)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits, suffix := s[:i], s[i:]
	mult := unit
	if suffix != "" {
		m, ok := byteSuffix(suffix)
		if !ok {
			c.fail(key, "is not a JVM size (such as 512m, 2g or 1024k)")
			return def, false
		}
		mult = m
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		c.fail(key, "is not a JVM size (such as 512m, 2g or 1024k)")
		return def, false
	}
	return n * mult / mebi, true
}

func mibString(m int64) string { return memString(m << 20) }

// scalaToInt is Scala's Double.toInt: truncation toward zero, saturating.
func scalaToInt(f float64) int64 {
	switch {
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int64(f)
}
