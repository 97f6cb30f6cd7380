package v1alpha1

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// Modes lists the valid values of a Mode.
var modes = []string{string(ModeRequired), string(ModePreferred), string(ModeOff)}

// Validate checks a defaulted configuration. Each error names the field
// (e.g. "zonePinning.mode") and what it accepts.
func Validate(c *SparkplaneConfiguration) field.ErrorList {
	var errs field.ErrorList
	if c.APIVersion != GroupVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), c.APIVersion, "must be "+GroupVersion))
	}
	if c.Kind != Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), c.Kind, "must be "+Kind))
	}
	errs = append(errs, validateLabelKey(field.NewPath("zoneLabel"), c.ZoneLabel)...)

	pp := field.NewPath("provider")
	if _, ok := Preset(c.Provider.Preset); !ok {
		errs = append(errs, field.NotSupported(pp.Child("preset"), c.Provider.Preset,
			[]string{ProviderKarpenter, ProviderEKS, ProviderGKE, ProviderAKS, ProviderCustom}))
	}
	if c.Provider.Label == "" {
		errs = append(errs, field.Required(pp.Child("label"), "set the node label that carries the capacity type (or choose a provider.preset)"))
	} else {
		errs = append(errs, validateLabelKey(pp.Child("label"), c.Provider.Label)...)
	}
	if c.Provider.SpotValue == "" {
		errs = append(errs, field.Required(pp.Child("spotValue"), "set the label value of spot nodes"))
	}
	for _, v := range []struct {
		name, value string
	}{{"spotValue", c.Provider.SpotValue}, {"onDemandValue", c.Provider.OnDemandValue}} {
		if v.value == "" {
			continue
		}
		for _, msg := range validation.IsValidLabelValue(v.value) {
			errs = append(errs, field.Invalid(pp.Child(v.name), v.value, msg))
		}
	}
	if c.Provider.OnDemandValue != "" && c.Provider.OnDemandValue == c.Provider.SpotValue {
		errs = append(errs, field.Invalid(pp.Child("onDemandValue"), c.Provider.OnDemandValue, "must differ from provider.spotValue"))
	}

	errs = append(errs, validateMode(field.NewPath("zonePinning", "mode"), c.ZonePinning.Mode)...)
	errs = append(errs, validateRule(field.NewPath("driver"), c.Driver)...)
	errs = append(errs, validateRule(field.NewPath("executor"), c.Executor)...)

	ep := field.NewPath("availabilityEscape")
	if c.AvailabilityEscape.Window.Duration <= 0 {
		errs = append(errs, field.Invalid(ep.Child("window"), c.AvailabilityEscape.Window.Duration.String(), "must be a positive duration such as 5m"))
	}
	if c.AvailabilityEscape.Interval.Duration <= 0 {
		errs = append(errs, field.Invalid(ep.Child("interval"), c.AvailabilityEscape.Interval.Duration.String(), "must be a positive duration such as 15s"))
	}
	if c.SchedulerName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(c.SchedulerName) {
			errs = append(errs, field.Invalid(field.NewPath("schedulerName"), c.SchedulerName, msg))
		}
	}
	if c.PreferredWeight < 1 || c.PreferredWeight > 100 {
		errs = append(errs, field.Invalid(field.NewPath("preferredWeight"), c.PreferredWeight, "must be between 1 and 100"))
	}
	return errs
}

func validateMode(p *field.Path, m Mode) field.ErrorList {
	for _, v := range modes {
		if string(m) == v {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, m, modes)}
}

func validateRule(p *field.Path, r CapacityRule) field.ErrorList {
	errs := validateMode(p.Child("mode"), r.Mode)
	if r.CapacityType != CapacityOnDemand && r.CapacityType != CapacitySpot {
		errs = append(errs, field.NotSupported(p.Child("capacityType"), r.CapacityType,
			[]string{string(CapacityOnDemand), string(CapacitySpot)}))
	}
	return errs
}

func validateLabelKey(p *field.Path, key string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(key) {
		errs = append(errs, field.Invalid(p, key, msg))
	}
	return errs
}

// Load reads a configuration file, decoding strictly, then defaults and
// validates it. An empty path returns the defaults.
func Load(path string) (*SparkplaneConfiguration, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes, defaults and validates a configuration document.
func Parse(data []byte) (*SparkplaneConfiguration, error) {
	c := &SparkplaneConfiguration{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("decoding (check field names against 'sparkplane config print-defaults'): %w", err)
	}
	if c.APIVersion == "" || c.Kind == "" {
		return nil, fmt.Errorf("apiVersion and kind are required: set apiVersion: %s and kind: %s", GroupVersion, Kind)
	}
	SetDefaults(c)
	if errs := Validate(c); len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return nil, fmt.Errorf("invalid configuration:\n  %s", strings.Join(msgs, "\n  "))
	}
	return c, nil
}
