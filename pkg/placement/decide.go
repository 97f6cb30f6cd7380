package placement

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// DriverInfo is what is known about an executor's driver pod.
type DriverInfo struct {
	// Name of the driver pod.
	Name string
	// Via says how it was found: "ownerReference" or "spark-app-selector".
	Via string
	// NodeName is the node the driver is bound to; empty if not yet bound.
	NodeName string
	// Zone is the zone label of that node; empty if unknown.
	Zone string
	// Annotations of the driver pod (per-app overrides live there).
	Annotations map[string]string
}

// Input is everything a placement decision depends on.
type Input struct {
	// Pod being admitted. Decide never modifies it.
	Pod *corev1.Pod
	// Driver of an executor; nil when none was found (client mode).
	Driver *DriverInfo
	// AppFallback is the availability escape's mark on the app, if any.
	AppFallback string
	// Config is a defaulted, validated configuration.
	Config *v1alpha1.SparkplaneConfiguration
}

// ZoneOutcome is how an executor's zone was decided (also a metrics label).
type ZoneOutcome string

const (
	// ZoneRequired: required to the driver's zone (a nodeSelector entry).
	ZoneRequired ZoneOutcome = "required"
	// ZonePreferred: the driver's zone as a preference (by config or override).
	ZonePreferred ZoneOutcome = "preferred"
	// ZoneEscaped: a preference because the availability escape marked the app.
	ZoneEscaped ZoneOutcome = "escaped"
	// ZoneAppAffinity: no bound driver; executors kept together by pod affinity.
	ZoneAppAffinity ZoneOutcome = "app-affinity"
	// ZoneUserConstraint: the pod's own constraints exclude the driver's zone.
	ZoneUserConstraint ZoneOutcome = "user-constraint"
	// ZoneUnknown: no zone could be derived (node without zone label, no app id).
	ZoneUnknown ZoneOutcome = "unknown"
	// ZoneOff: zone pinning is off for this app.
	ZoneOff ZoneOutcome = "off"
)

// Fallback reports whether the executor got less than the configured (or
// overridden) zone rule: escaped, app affinity, the user's own
// constraints, or no zone at all.
func (o ZoneOutcome) Fallback() bool {
	return o != ZoneRequired && o != ZonePreferred && o != ZoneOff
}

// Decision is the outcome of Decide.
type Decision struct {
	Role spark.Role
	// Pod is the pod to admit: a mutated copy, or the input pod itself when
	// Spark-unrelated. Nil when Denied.
	Pod *corev1.Pod
	// Denied, when not empty, is why the pod must be rejected.
	Denied string
	// Warnings are returned to the client (kubectl, spark-submit logs).
	Warnings []string
	// Ignored are the invalid annotations an executor was decided without,
	// one message each ("driver <name>: " first when on its driver); they
	// are also among Warnings and Reasons.
	Ignored []string
	// Reasons say in words what was decided and why.
	Reasons []string
	// Zone and ZoneOutcome describe an executor's zone decision.
	Zone        string
	ZoneOutcome ZoneOutcome
}

// Explanation is the decision in one line, as written to AnnotationDecision.
func (d Decision) Explanation() string { return strings.Join(d.Reasons, "; ") }

// Decide decides how a Spark pod must be constrained. Pods without a
// spark-role of driver or executor come back untouched.
func Decide(in Input) Decision {
	role := spark.RoleOf(in.Pod)
	d := Decision{Role: role, Pod: in.Pod}
	if role != spark.RoleDriver && role != spark.RoleExecutor {
		return d
	}
	cfg := in.Config
	pod := in.Pod.DeepCopy()

	if role == spark.RoleDriver {
		own, errs := parseOverrides(pod.Annotations, "pod")
		// Drivers are checked at submission, when the user can still fix them.
		if len(errs) > 0 {
			return Decision{Role: role, Denied: joinErrors(errs)}
		}
		rule, src := cfg.Driver, "config driver"
		if own.driverCap != nil {
			rule, src = *own.driverCap, own.driverSrc
		}
		d.Reasons = append(d.Reasons, "driver "+pod.Name+" of app "+appName(pod))
		enforced, why := decideCapacity(pod, cfg, rule, src)
		d.Reasons = append(d.Reasons, why)
		applyCapacity(pod, cfg, enforced)
		protect, psrc := cfg.DisruptionProtection.DriverProtected(), "config driver"
		if own.driverProt != nil {
			protect, psrc = *own.driverProt, own.driverProtSrc
		}
		d.Reasons = append(d.Reasons, applyProtection(pod, cfg.DisruptionProtection.Annotations, protect, psrc))
	} else {
		// Executors belong to a running job: never break it, warn instead,
		// and say so in the decision, where it stays visible on the pod.
		// The rule is the one the scheduler enforces (DecideExecutor).
		rule := DecideExecutor(in)
		d.Ignored = rule.Ignored
		for _, msg := range rule.Ignored {
			d.Warnings = append(d.Warnings, "sparkplane: "+msg+"; using the default")
		}
		d.Reasons = append(d.Reasons, rule.Reasons...)
		d.Zone, d.ZoneOutcome = rule.Zone, rule.ZoneOutcome
		applyZone(pod, cfg, rule)
		applyCapacity(pod, cfg, rule.Capacity)
		d.Reasons = append(d.Reasons, applyProtection(pod, cfg.DisruptionProtection.Annotations, rule.Protect, rule.ProtectSource))
	}

	if r := applySchedulerName(pod, cfg); r != "" {
		d.Reasons = append(d.Reasons, r)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if role == spark.RoleExecutor {
		pod.Annotations[AnnotationZoneMode] = string(d.ZoneOutcome)
		if d.Zone != "" {
			pod.Annotations[AnnotationZone] = d.Zone
		}
	}
	pod.Annotations[AnnotationDecision] = d.Explanation()
	d.Pod = pod
	return d
}

// CapacityRequirement is the node selector requirement that selects nodes of
// capacity type t under provider p.
func CapacityRequirement(p v1alpha1.Provider, t v1alpha1.CapacityType) corev1.NodeSelectorRequirement {
	if t == v1alpha1.CapacitySpot {
		return corev1.NodeSelectorRequirement{Key: p.Label, Operator: corev1.NodeSelectorOpIn, Values: []string{p.SpotValue}}
	}
	if p.OnDemandValue != "" {
		return corev1.NodeSelectorRequirement{Key: p.Label, Operator: corev1.NodeSelectorOpIn, Values: []string{p.OnDemandValue}}
	}
	return corev1.NodeSelectorRequirement{Key: p.Label, Operator: corev1.NodeSelectorOpNotIn, Values: []string{p.SpotValue}}
}

// applyProtection writes the annotations that keep autoscalers from
// removing the pod's node voluntarily (consolidation, scale-down, drift).
// An annotation the pod already carries with another value is the user's
// and is kept: do-not-disrupt=false set on purpose stays false.
func applyProtection(pod *corev1.Pod, annotations map[string]string, protect bool, src string) string {
	const what = "voluntary disruption"
	if !protect {
		return "not protected from " + what + " (" + src + ")"
	}
	if len(annotations) == 0 {
		return "not protected from " + what + ": disruptionProtection.annotations is empty (" + src + " asks for protection)"
	}
	var wrote, kept []string
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		want := annotations[k]
		if have, ok := pod.Annotations[k]; ok && have != want {
			kept = append(kept, k+"="+have)
			continue
		}
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[k] = want
		wrote = append(wrote, k+"="+want)
	}
	ownKept := ""
	if len(kept) > 0 {
		ownKept = "the pod's own " + strings.Join(kept, ", ") + " kept, not overwritten"
	}
	if len(wrote) == 0 {
		return what + ": " + ownKept + " (" + src + " asks for protection)"
	}
	r := "protected from " + what + ": " + strings.Join(wrote, ", ") + " (" + src + ")"
	if ownKept != "" {
		r += "; " + ownKept
	}
	return r
}

func applySchedulerName(pod *corev1.Pod, cfg *v1alpha1.SparkplaneConfiguration) string {
	if cfg.SchedulerName == "" {
		return ""
	}
	switch pod.Spec.SchedulerName {
	case "", corev1.DefaultSchedulerName:
		pod.Spec.SchedulerName = cfg.SchedulerName
	case cfg.SchedulerName:
	default:
		return "scheduler " + pod.Spec.SchedulerName + " (the pod's own)"
	}
	return "scheduler " + cfg.SchedulerName + " (config)"
}

func requirementString(r corev1.NodeSelectorRequirement) string {
	return fmt.Sprintf("%s %s [%s]", r.Key, r.Operator, strings.Join(r.Values, ","))
}

func appName(pod *corev1.Pod) string {
	if id := spark.AppID(pod); id != "" {
		return id
	}
	return "(no " + spark.LabelAppSelector + ")"
}

func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return "sparkplane: " + strings.Join(msgs, "; ")
}
