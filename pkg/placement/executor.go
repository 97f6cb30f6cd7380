package placement

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// ExecutorRule is the rule an executor is placed by: its zone and how
// strictly, its capacity type and how strictly, its protection from
// voluntary disruption, and why. The webhook writes it into the pod
// (Decide) and the scheduler's SparkGang plugin enforces it (Filter,
// Score); both take it from DecideExecutor, so the two cannot disagree.
type ExecutorRule struct {
	// Zone is the driver's zone the executor is pinned or steered to;
	// empty when it is neither (ZoneOff, ZoneUserConstraint, ZoneUnknown,
	// ZoneAppAffinity).
	Zone string
	// ZoneOutcome is how the zone was decided.
	ZoneOutcome ZoneOutcome
	// ZoneMode is how the zone constraint (Zone, or the app's one shared
	// zone under ZoneAppAffinity) is enforced: required, preferred, or off
	// when there is none.
	ZoneMode v1alpha1.Mode
	// AppID is the app whose executors share one zone under ZoneAppAffinity.
	AppID string
	// Capacity is the capacity rule sparkplane enforces. Its Mode is off
	// for "any" and when the pod's own hard constraint on the capacity
	// label decides (a pod template's nodeSelector, say): that is kept.
	Capacity v1alpha1.CapacityRule
	// Protect says whether the executor is protected from voluntary
	// disruption; ProtectSource says by what (config or annotation).
	Protect       bool
	ProtectSource string
	// Ignored are the invalid annotations the rule was decided without,
	// one message each ("driver <name>: " first when on its driver).
	Ignored []string
	// Reasons say in words what was decided and why: the executor and its
	// app, each ignored annotation, the zone, the capacity.
	Reasons []string
}

// RequiredZone is the zone the executor must run in; empty when the rule
// requires none (a preference, no zone, or app affinity, which the pod's
// own pod affinity carries).
func (r ExecutorRule) RequiredZone() string {
	if r.ZoneMode == v1alpha1.ModeRequired {
		return r.Zone
	}
	return ""
}

// DecideExecutor decides an executor's rule from in: the configuration,
// overridden per app by its driver's sparkplane.io/* annotations and those
// by the executor's own; the executor's own hard constraints (a pod
// template's zone or capacity-type selector is kept, never contradicted);
// its driver's zone; and the availability escape's mark on the app, which
// turns a required zone into a preference. It does no I/O and never
// modifies in.Pod. in.Pod must be an executor.
func DecideExecutor(in Input) ExecutorRule {
	cfg, pod := in.Config, in.Pod
	var r ExecutorRule
	own, errs := parseOverrides(pod.Annotations, "pod")
	for _, err := range errs {
		r.Ignored = append(r.Ignored, err.Error())
	}
	ov := own
	if in.Driver != nil {
		fromDriver, derrs := parseOverrides(in.Driver.Annotations, "driver")
		for _, err := range derrs {
			r.Ignored = append(r.Ignored, "driver "+in.Driver.Name+": "+err.Error())
		}
		ov = own.merge(fromDriver)
	}
	r.Reasons = append(r.Reasons, "executor "+pod.Name+" of app "+appName(pod))
	for _, msg := range r.Ignored {
		r.Reasons = append(r.Reasons, "ignored: "+msg)
	}
	r.Reasons = append(r.Reasons, r.decideZone(in, ov))

	rule, src := cfg.Executor, "config executor"
	if ov.execCap != nil {
		rule, src = *ov.execCap, ov.execSrc
	}
	var why string
	r.Capacity, why = decideCapacity(pod, cfg, rule, src)
	r.Reasons = append(r.Reasons, why)

	r.Protect, r.ProtectSource = cfg.DisruptionProtection.ExecutorProtected(), "config executor"
	if ov.execProt != nil {
		r.Protect, r.ProtectSource = *ov.execProt, ov.execProtSrc
	}
	return r
}

// decideZone sets the zone fields and returns the reason.
func (r *ExecutorRule) decideZone(in Input, ov overrides) string {
	cfg := in.Config
	r.ZoneMode = v1alpha1.ModeOff
	mode, src := cfg.ZonePinning.Mode, "config"
	if ov.zone != nil {
		mode, src = *ov.zone, ov.zoneSrc
	}
	if mode == v1alpha1.ModeOff {
		r.ZoneOutcome = ZoneOff
		return "zone: not pinned (zone pinning off by " + src + ")"
	}
	outcome := ZoneRequired
	if mode == v1alpha1.ModePreferred {
		outcome = ZonePreferred
	}
	if in.AppFallback != "" && outcome == ZoneRequired {
		outcome, mode, src = ZoneEscaped, v1alpha1.ModePreferred, "availability escape: "+in.AppFallback
	}

	drv := in.Driver
	if drv == nil || drv.NodeName == "" {
		return r.appAffinity(in, mode, src)
	}
	if drv.Zone == "" {
		r.ZoneOutcome = ZoneUnknown
		return fmt.Sprintf("zone: not pinned: driver %s runs on node %s, which has no %s label", drv.Name, drv.NodeName, cfg.ZoneLabel)
	}
	where := fmt.Sprintf("driver %s (found by %s) runs on node %s in zone %s", drv.Name, drv.Via, drv.NodeName, drv.Zone)
	if excluded, why := zoneExcluded(in.Pod, cfg.ZoneLabel, drv.Zone); excluded {
		r.ZoneOutcome = ZoneUserConstraint
		return "zone: not pinned: " + where + ", but the pod's own constraints exclude that zone (" + why + "); they are kept"
	}
	r.Zone, r.ZoneOutcome, r.ZoneMode = drv.Zone, outcome, mode
	if mode == v1alpha1.ModeRequired {
		return "zone " + drv.Zone + " required: " + where + " (" + src + "; nodeSelector " + cfg.ZoneLabel + "=" + drv.Zone + ")"
	}
	return "zone " + drv.Zone + " preferred: " + where + " (" + src + ")"
}

// appAffinity keeps an app's executors in one zone when no bound driver is
// known: the first executor is free, the rest follow it. Inter-pod affinity
// is the scheduler's slowest predicate, so this is only a fallback.
func (r *ExecutorRule) appAffinity(in Input, mode v1alpha1.Mode, src string) string {
	why := "no driver pod found (client mode?)"
	if in.Driver != nil {
		why = "driver " + in.Driver.Name + " is not bound to a node yet"
	}
	appID := spark.AppID(in.Pod)
	if appID == "" || !*in.Config.ZonePinning.ClientModeAffinity {
		r.ZoneOutcome = ZoneUnknown
		reason := "no " + spark.LabelAppSelector + " label"
		if appID != "" {
			reason = "client-mode affinity off by config"
		}
		return "zone: not pinned: " + why + " and " + reason
	}
	r.ZoneOutcome, r.ZoneMode, r.AppID = ZoneAppAffinity, mode, appID
	strength := "preferred"
	if mode == v1alpha1.ModeRequired {
		strength = "required"
	}
	return "zone: " + why + "; executors of app " + appID + " " + strength + " to share one zone (pod affinity; " + src + ")"
}

// applyZone writes the zone part of r into pod.
func applyZone(pod *corev1.Pod, cfg *v1alpha1.SparkplaneConfiguration, r ExecutorRule) {
	switch {
	case r.ZoneOutcome == ZoneAppAffinity:
		term := appAffinityTerm(r.AppID, cfg.ZoneLabel)
		if r.ZoneMode == v1alpha1.ModeRequired {
			requirePodAffinity(pod, term)
		} else {
			preferPodAffinity(pod, cfg.Weight(), term)
		}
	case r.Zone == "":
	case r.ZoneMode == v1alpha1.ModeRequired:
		requireZone(pod, cfg.ZoneLabel, r.Zone)
	default:
		preferNode(pod, cfg.Weight(), corev1.NodeSelectorRequirement{Key: cfg.ZoneLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{r.Zone}})
	}
}

// decideCapacity is the capacity rule sparkplane enforces on pod, given the
// rule in force and its source, and why: none when the pod's own hard
// constraint on the capacity label decides.
func decideCapacity(pod *corev1.Pod, cfg *v1alpha1.SparkplaneConfiguration, rule v1alpha1.CapacityRule, src string) (v1alpha1.CapacityRule, string) {
	if rule.Mode == v1alpha1.ModeOff {
		return rule, "capacity: any (" + src + ")"
	}
	req := CapacityRequirement(cfg.Provider, rule.CapacityType)
	if userConstrains(pod, req.Key, req) {
		return v1alpha1.CapacityRule{Mode: v1alpha1.ModeOff}, "capacity: left to the pod's own constraint on " + req.Key
	}
	return rule, fmt.Sprintf("capacity %s %s (%s; %s)", rule.CapacityType, rule.Mode, requirementString(req), src)
}

// applyCapacity writes a capacity rule decided by decideCapacity into pod.
func applyCapacity(pod *corev1.Pod, cfg *v1alpha1.SparkplaneConfiguration, rule v1alpha1.CapacityRule) {
	if rule.Mode == v1alpha1.ModeOff {
		return
	}
	req := CapacityRequirement(cfg.Provider, rule.CapacityType)
	if rule.CapacityType == v1alpha1.CapacitySpot {
		tolerate(pod, cfg.Provider.SpotTolerations)
	}
	if rule.Mode == v1alpha1.ModeRequired {
		requireNode(pod, req)
	} else {
		preferNode(pod, cfg.Weight(), req)
	}
}
