package v1alpha1

import (
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// DefaultZoneLabel is the well-known zone label.
const DefaultZoneLabel = corev1.LabelTopologyZone

// Default returns a configuration with every default applied.
func Default() *SparkplaneConfiguration {
	c := &SparkplaneConfiguration{}
	SetDefaults(c)
	return c
}

// Preset returns the provider settings of a preset, and false for an unknown name.
func Preset(name string) (Provider, bool) {
	switch name {
	case ProviderKarpenter:
		return Provider{Preset: name, Label: "karpenter.sh/capacity-type", SpotValue: "spot", OnDemandValue: "on-demand"}, true
	case ProviderEKS:
		return Provider{Preset: name, Label: "eks.amazonaws.com/capacityType", SpotValue: "SPOT", OnDemandValue: "ON_DEMAND"}, true
	case ProviderGKE:
		return Provider{Preset: name, Label: "cloud.google.com/gke-spot", SpotValue: "true"}, true
	case ProviderAKS:
		return Provider{Preset: name, Label: "kubernetes.azure.com/scalesetpriority", SpotValue: "spot",
			SpotTolerations: []corev1.Toleration{{
				Key: "kubernetes.azure.com/scalesetpriority", Operator: corev1.TolerationOpEqual,
				Value: "spot", Effect: corev1.TaintEffectNoSchedule,
			}}}, true
	case ProviderCustom:
		return Provider{Preset: name}, true
	}
	return Provider{}, false
}

// PresetProtection returns the annotations that protect a pod from
// voluntary disruption under a provider preset, and false for an unknown
// preset. Karpenter reads only its own annotation, cluster-autoscaler only
// its own: the eks preset names managed node groups, which
// cluster-autoscaler scales, as GKE's and AKS's autoscalers are
// cluster-autoscaler. A custom preset does not say which autoscaler runs,
// so it gets both: each autoscaler ignores the other's annotation.
func PresetProtection(preset string) (map[string]string, bool) {
	karpenter := map[string]string{AnnotationKarpenterDoNotDisrupt: "true"}
	ca := map[string]string{AnnotationSafeToEvict: "false"}
	switch preset {
	case ProviderKarpenter:
		return karpenter, true
	case ProviderEKS, ProviderGKE, ProviderAKS:
		return ca, true
	case ProviderCustom:
		return map[string]string{AnnotationKarpenterDoNotDisrupt: "true", AnnotationSafeToEvict: "false"}, true
	}
	return nil, false
}

// SetDefaults fills every unset field of c.
func SetDefaults(c *SparkplaneConfiguration) {
	if c.APIVersion == "" {
		c.APIVersion = GroupVersion
	}
	if c.Kind == "" {
		c.Kind = Kind
	}
	if c.ZoneLabel == "" {
		c.ZoneLabel = DefaultZoneLabel
	}
	if c.Provider.Preset == "" {
		c.Provider.Preset = ProviderKarpenter
	}
	if p, ok := Preset(c.Provider.Preset); ok {
		if c.Provider.Label == "" {
			c.Provider.Label = p.Label
		}
		if c.Provider.SpotValue == "" {
			c.Provider.SpotValue = p.SpotValue
		}
		if c.Provider.OnDemandValue == "" {
			c.Provider.OnDemandValue = p.OnDemandValue
		}
		if c.Provider.SpotTolerations == nil {
			c.Provider.SpotTolerations = p.SpotTolerations
		}
	}
	if c.ZonePinning.Mode == "" {
		c.ZonePinning.Mode = ModeRequired
	}
	if c.ZonePinning.ClientModeAffinity == nil {
		t := true
		c.ZonePinning.ClientModeAffinity = &t
	}
	if c.Driver.CapacityType == "" {
		c.Driver.CapacityType = CapacityOnDemand
	}
	if c.Driver.Mode == "" {
		c.Driver.Mode = ModeRequired
	}
	if c.Executor.CapacityType == "" {
		c.Executor.CapacityType = CapacitySpot
	}
	if c.Executor.Mode == "" {
		c.Executor.Mode = ModePreferred
	}
	dp := &c.DisruptionProtection
	if dp.Driver == nil {
		t := true
		dp.Driver = &t
	}
	if dp.Executor == nil {
		f := false
		dp.Executor = &f
	}
	if dp.Annotations == nil {
		dp.Annotations, _ = PresetProtection(c.Provider.Preset)
	}
	if c.AvailabilityEscape.Window.Duration == 0 {
		c.AvailabilityEscape.Window.Duration = 5 * time.Minute
	}
	if c.AvailabilityEscape.Interval.Duration == 0 {
		c.AvailabilityEscape.Interval.Duration = 15 * time.Second
	}
	if c.PreferredWeight == nil {
		w := DefaultPreferredWeight
		c.PreferredWeight = &w
	}
}

// NodeLabels are the capacity-type labels a node of type t carries under
// this provider (none for on-demand nodes of GKE and AKS).
func (p Provider) NodeLabels(t CapacityType) map[string]string {
	switch {
	case t == CapacitySpot:
		return map[string]string{p.Label: p.SpotValue}
	case p.OnDemandValue != "":
		return map[string]string{p.Label: p.OnDemandValue}
	}
	return map[string]string{}
}

// CapacityTypeOf says which capacity type a node with these labels offers.
func (p Provider) CapacityTypeOf(labels map[string]string) CapacityType {
	if labels[p.Label] == p.SpotValue {
		return CapacitySpot
	}
	return CapacityOnDemand
}

// DeepCopy returns a copy of c that shares no state with it.
func (c *SparkplaneConfiguration) DeepCopy() *SparkplaneConfiguration {
	if c == nil {
		return nil
	}
	out := *c
	if c.ZonePinning.ClientModeAffinity != nil {
		v := *c.ZonePinning.ClientModeAffinity
		out.ZonePinning.ClientModeAffinity = &v
	}
	if c.PreferredWeight != nil {
		w := *c.PreferredWeight
		out.PreferredWeight = &w
	}
	if p := c.DisruptionProtection.Driver; p != nil {
		v := *p
		out.DisruptionProtection.Driver = &v
	}
	if p := c.DisruptionProtection.Executor; p != nil {
		v := *p
		out.DisruptionProtection.Executor = &v
	}
	// maps.Clone keeps nil nil and an explicit empty map empty.
	out.DisruptionProtection.Annotations = maps.Clone(c.DisruptionProtection.Annotations)
	if c.Provider.SpotTolerations != nil {
		out.Provider.SpotTolerations = make([]corev1.Toleration, len(c.Provider.SpotTolerations))
		for i := range c.Provider.SpotTolerations {
			c.Provider.SpotTolerations[i].DeepCopyInto(&out.Provider.SpotTolerations[i])
		}
	}
	return &out
}
