package placement

import (
	"fmt"
	"strings"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// Annotations users set per app, usually on the driver with
// spark.kubernetes.driver.annotation.<key>=<value>. Executors inherit them
// from their driver; an executor's own annotation wins.
const (
	AnnotationZonePinning      = "sparkplane.io/zone-pinning"
	AnnotationDriverCapacity   = "sparkplane.io/driver-capacity-type"
	AnnotationExecutorCapacity = "sparkplane.io/executor-capacity-type"
	// AnnotationDriverProtection and AnnotationExecutorProtection turn the
	// protection from voluntary disruption (config disruptionProtection)
	// on or off for the app's driver and for its executors.
	AnnotationDriverProtection   = "sparkplane.io/driver-disruption-protection"
	AnnotationExecutorProtection = "sparkplane.io/executor-disruption-protection"
)

// Annotations sparkplane writes.
const (
	// AnnotationDecision explains in words what was decided and why.
	AnnotationDecision = "sparkplane.io/decision"
	// AnnotationZone is the zone an executor was pinned or steered to.
	AnnotationZone = "sparkplane.io/zone"
	// AnnotationZoneMode is how an executor's zone is enforced (a ZoneOutcome).
	AnnotationZoneMode = "sparkplane.io/zone-mode"
	// AnnotationZoneFallback marks an app whose pinned executors could not be
	// scheduled in the driver's zone: later executors only prefer the zone.
	// It is set on the driver (or, without a driver pod, on the app's running
	// executors) so the decision survives a webhook restart.
	AnnotationZoneFallback = "sparkplane.io/zone-fallback"
)

var (
	zoneValues     = "required (alias: on), preferred, off"
	capacityValues = "on-demand, spot, prefer-on-demand, prefer-spot, any"
	protectValues  = "on (alias: true), off (alias: false)"
)

func parseProtection(v string) (bool, bool) {
	switch strings.TrimSpace(v) {
	case "on", "true":
		return true, true
	case "off", "false":
		return false, true
	}
	return false, false
}

func parseZoneMode(v string) (v1alpha1.Mode, bool) {
	switch strings.TrimSpace(v) {
	case "required", "on":
		return v1alpha1.ModeRequired, true
	case "preferred":
		return v1alpha1.ModePreferred, true
	case "off":
		return v1alpha1.ModeOff, true
	}
	return "", false
}

func parseCapacity(v string) (v1alpha1.CapacityRule, bool) {
	switch strings.TrimSpace(v) {
	case "on-demand":
		return v1alpha1.CapacityRule{CapacityType: v1alpha1.CapacityOnDemand, Mode: v1alpha1.ModeRequired}, true
	case "spot":
		return v1alpha1.CapacityRule{CapacityType: v1alpha1.CapacitySpot, Mode: v1alpha1.ModeRequired}, true
	case "prefer-on-demand":
		return v1alpha1.CapacityRule{CapacityType: v1alpha1.CapacityOnDemand, Mode: v1alpha1.ModePreferred}, true
	case "prefer-spot":
		return v1alpha1.CapacityRule{CapacityType: v1alpha1.CapacitySpot, Mode: v1alpha1.ModePreferred}, true
	case "any":
		return v1alpha1.CapacityRule{Mode: v1alpha1.ModeOff}, true
	}
	return v1alpha1.CapacityRule{}, false
}

// overrides are the per-app settings found in one set of annotations.
type overrides struct {
	zone               *v1alpha1.Mode
	driverCap, execCap *v1alpha1.CapacityRule
	zoneSrc            string
	driverSrc, execSrc string
	// Protection from voluntary disruption of the driver and the executors.
	driverProt, execProt       *bool
	driverProtSrc, execProtSrc string
}

// parseOverrides reads the sparkplane annotations of one object ("pod" or
// "driver"); each invalid value yields an error naming the annotation, the
// value and the allowed values, and is ignored.
func parseOverrides(annotations map[string]string, owner string) (overrides, []error) {
	var o overrides
	var errs []error
	if v, ok := annotations[AnnotationZonePinning]; ok {
		if m, ok := parseZoneMode(v); ok {
			o.zone, o.zoneSrc = &m, owner+" annotation "+AnnotationZonePinning
		} else {
			errs = append(errs, invalidAnnotation(AnnotationZonePinning, v, zoneValues))
		}
	}
	for _, a := range []struct {
		key string
		dst **v1alpha1.CapacityRule
		src *string
	}{{AnnotationDriverCapacity, &o.driverCap, &o.driverSrc}, {AnnotationExecutorCapacity, &o.execCap, &o.execSrc}} {
		v, ok := annotations[a.key]
		if !ok {
			continue
		}
		if r, ok := parseCapacity(v); ok {
			*a.dst, *a.src = &r, owner+" annotation "+a.key
		} else {
			errs = append(errs, invalidAnnotation(a.key, v, capacityValues))
		}
	}
	for _, a := range []struct {
		key string
		dst **bool
		src *string
	}{{AnnotationDriverProtection, &o.driverProt, &o.driverProtSrc}, {AnnotationExecutorProtection, &o.execProt, &o.execProtSrc}} {
		v, ok := annotations[a.key]
		if !ok {
			continue
		}
		if on, ok := parseProtection(v); ok {
			*a.dst, *a.src = &on, owner+" annotation "+a.key
		} else {
			errs = append(errs, invalidAnnotation(a.key, v, protectValues))
		}
	}
	return o, errs
}

func invalidAnnotation(key, value, allowed string) error {
	return fmt.Errorf("annotation %s=%q is not valid: allowed values are %s (set it with --conf spark.kubernetes.driver.annotation.%s=<value>)",
		key, value, allowed, key)
}

// merge returns o with unset fields taken from base.
func (o overrides) merge(base overrides) overrides {
	if o.zone == nil {
		o.zone, o.zoneSrc = base.zone, base.zoneSrc
	}
	if o.driverCap == nil {
		o.driverCap, o.driverSrc = base.driverCap, base.driverSrc
	}
	if o.execCap == nil {
		o.execCap, o.execSrc = base.execCap, base.execSrc
	}
	if o.driverProt == nil {
		o.driverProt, o.driverProtSrc = base.driverProt, base.driverProtSrc
	}
	if o.execProt == nil {
		o.execProt, o.execProtSrc = base.execProt, base.execProtSrc
	}
	return o
}

// AppRules are the zone-pinning mode and capacity rules in force for an
// app: the configuration, overridden by its driver's annotations (invalid
// values ignored: the webhook reports them), with zone pinning relaxed to a
// preference once the availability escape has marked the app. The scheduler
// plans a driver's gang with them, before any executor exists; each
// executor is then held to DecideExecutor's rule, which also weighs the
// executor's own annotations and constraints.
func AppRules(cfg *v1alpha1.SparkplaneConfiguration, driverAnnotations map[string]string) (zone v1alpha1.Mode, driver, executor v1alpha1.CapacityRule) {
	zone, driver, executor = cfg.ZonePinning.Mode, cfg.Driver, cfg.Executor
	ov, _ := parseOverrides(driverAnnotations, "driver")
	if ov.zone != nil {
		zone = *ov.zone
	}
	if ov.driverCap != nil {
		driver = *ov.driverCap
	}
	if ov.execCap != nil {
		executor = *ov.execCap
	}
	if driverAnnotations[AnnotationZoneFallback] != "" && zone == v1alpha1.ModeRequired {
		zone = v1alpha1.ModePreferred
	}
	return zone, driver, executor
}
