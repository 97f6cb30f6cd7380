package v1alpha1

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// GroupVersion is the apiVersion of every sparkplane configuration file.
	GroupVersion = "sparkplane.io/v1alpha1"
	// Kind is the kind of the configuration file.
	Kind = "SparkplaneConfiguration"
)

// Mode says how strongly a placement rule is applied.
type Mode string

const (
	// ModeRequired adds the rule as a required node affinity term.
	ModeRequired Mode = "required"
	// ModePreferred adds the rule as a preferred node affinity term.
	ModePreferred Mode = "preferred"
	// ModeOff disables the rule.
	ModeOff Mode = "off"
)

// UnmarshalJSON reads false as ModeOff: YAML 1.1 readers (sigs.k8s.io/yaml,
// Helm) turn an unquoted off (or no) into false, and off is what was meant.
func (m *Mode) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		return nil
	case "false":
		*m = ModeOff
		return nil
	case "true":
		return fmt.Errorf("true is not a mode (YAML reads an unquoted on, yes or true as true): use required or preferred")
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be required, preferred or off")
	}
	*m = Mode(s)
	return nil
}

// CapacityType is the kind of capacity a node offers.
type CapacityType string

const (
	CapacityOnDemand CapacityType = "on-demand"
	CapacitySpot     CapacityType = "spot"
)

// Provider presets for capacity-type node labels.
const (
	ProviderKarpenter = "karpenter"
	ProviderEKS       = "eks"
	ProviderGKE       = "gke"
	ProviderAKS       = "aks"
	ProviderCustom    = "custom"
)

// SparkplaneConfiguration configures the sparkplane webhook.
type SparkplaneConfiguration struct {
	metav1.TypeMeta `json:",inline"`

	// ZoneLabel is the node label that names a node's zone.
	// Default: topology.kubernetes.io/zone.
	ZoneLabel string `json:"zoneLabel,omitempty"`

	// Provider says which node labels mark on-demand and spot capacity.
	Provider Provider `json:"provider,omitempty"`

	// ZonePinning says how executors follow their driver's zone.
	ZonePinning ZonePinning `json:"zonePinning,omitempty"`

	// Driver and Executor say on which capacity type each role runs.
	Driver   CapacityRule `json:"driver,omitempty"`
	Executor CapacityRule `json:"executor,omitempty"`

	// AvailabilityEscape releases executors that stay unschedulable in their
	// driver's zone. It needs pod patch/delete rights; off by default.
	AvailabilityEscape AvailabilityEscape `json:"availabilityEscape,omitempty"`

	// DisruptionProtection keeps autoscalers from removing the node of a
	// running driver (or executor) on their own initiative: consolidation,
	// scale-down, drift.
	DisruptionProtection DisruptionProtection `json:"disruptionProtection,omitempty"`

	// SchedulerName, when set, is written into Spark pods that would otherwise
	// use the default scheduler. Pods that name another scheduler keep it.
	SchedulerName string `json:"schedulerName,omitempty"`

	// PreferredWeight is the weight (1-100) of every preferred term sparkplane
	// adds. Default: 100. A pointer, so that an explicit 0 is refused rather
	// than taken for "unset".
	PreferredWeight *int32 `json:"preferredWeight,omitempty"`
}

// DefaultPreferredWeight is the default of PreferredWeight.
const DefaultPreferredWeight int32 = 100

// Weight is PreferredWeight, or its default when unset.
func (c *SparkplaneConfiguration) Weight() int32 {
	if c.PreferredWeight == nil {
		return DefaultPreferredWeight
	}
	return *c.PreferredWeight
}

// Provider names the capacity-type node label and its values.
type Provider struct {
	// Preset is one of karpenter (default), eks, gke, aks or custom. A preset
	// fills Label, SpotValue, OnDemandValue and SpotTolerations; fields set
	// explicitly win over the preset.
	Preset string `json:"preset,omitempty"`
	// Label is the node label that carries the capacity type.
	Label string `json:"label,omitempty"`
	// SpotValue is the label's value on spot nodes.
	SpotValue string `json:"spotValue,omitempty"`
	// OnDemandValue is the label's value on on-demand nodes. Empty means
	// on-demand nodes are those whose label is not SpotValue (GKE, AKS).
	OnDemandValue string `json:"onDemandValue,omitempty"`
	// SpotTolerations are added to pods that may run on spot capacity
	// (AKS taints its spot pools).
	SpotTolerations []corev1.Toleration `json:"spotTolerations,omitempty"`
}

// ZonePinning configures how executors follow the driver's zone.
type ZonePinning struct {
	// Mode is required (default), preferred or off.
	Mode Mode `json:"mode,omitempty"`
	// ClientModeAffinity keeps the executors of an app whose driver pod is
	// missing or not yet bound in one zone with a pod affinity on their own
	// spark-app-selector. Default: true.
	ClientModeAffinity *bool `json:"clientModeAffinity,omitempty"`
}

// CapacityRule says on which capacity type a role runs.
type CapacityRule struct {
	// CapacityType is on-demand or spot.
	// Defaults: on-demand for the driver, spot for executors.
	CapacityType CapacityType `json:"capacityType,omitempty"`
	// Mode is required, preferred or off.
	// Defaults: required for the driver, preferred for executors.
	Mode Mode `json:"mode,omitempty"`
}

// Annotations that protect a pod's node from voluntary disruption, as
// autoscalers read them.
const (
	// AnnotationKarpenterDoNotDisrupt: Karpenter neither consolidates nor
	// drifts the node of a pod that carries it with "true".
	AnnotationKarpenterDoNotDisrupt = "karpenter.sh/do-not-disrupt"
	// AnnotationSafeToEvict: cluster-autoscaler (also GKE's and AKS's) does
	// not scale down the node of a pod that carries it with "false".
	AnnotationSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"
)

// DisruptionProtection says which Spark pods are protected from voluntary
// disruption, and with which annotations. It does not (and cannot) protect
// from involuntary disruption: a spot interruption, a node failure.
type DisruptionProtection struct {
	// Driver protects drivers. Default: true: a driver is a bare pod, and
	// when it is evicted nothing recreates it and the whole job fails.
	Driver *bool `json:"driver,omitempty"`
	// Executor protects executors. Default: false: Spark replaces a lost
	// executor, and protecting every executor would keep every node of an
	// app from being consolidated (docs/webhook.md says why, and what to
	// use instead: Spark's decommissioning).
	Executor *bool `json:"executor,omitempty"`
	// Annotations are written into protected pods (never over an annotation
	// the pod already has). Unset means the provider preset's: karpenter:
	// karpenter.sh/do-not-disrupt=true; eks, gke, aks:
	// cluster-autoscaler.kubernetes.io/safe-to-evict=false; custom: both.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// DriverProtected and ExecutorProtected are the defaulted role settings.
func (p DisruptionProtection) DriverProtected() bool   { return p.Driver == nil || *p.Driver }
func (p DisruptionProtection) ExecutorProtected() bool { return p.Executor != nil && *p.Executor }

// AvailabilityEscape configures the release of stuck pinned executors.
type AvailabilityEscape struct {
	// Enabled turns the escape on. It needs RBAC to patch and delete pods.
	Enabled bool `json:"enabled,omitempty"`
	// Window is how long pinned executors may stay unschedulable before they
	// are deleted and the app falls back to a zone preference. Default: 5m.
	Window metav1.Duration `json:"window,omitempty"`
	// Interval is how often stuck executors are looked for. Default: 15s.
	Interval metav1.Duration `json:"interval,omitempty"`
}
