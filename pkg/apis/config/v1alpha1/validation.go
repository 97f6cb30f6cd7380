package v1alpha1

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/sparkplane/sparkplane/pkg/podvalidation"
)

// Modes lists the valid values of a Mode.
var modes = []string{string(ModeRequired), string(ModePreferred), string(ModeOff)}

// Lower bounds of the availability escape's durations. They refuse values
// that cannot be meant (1ns) while letting tests on a local cluster, where
// pods are placed within a second, use short windows; docs/webhook.md says
// why production windows should be minutes.
const (
	// MinEscapeWindow: executors still pending after the window are deleted;
	// below a second that is before any scheduler could have placed them.
	MinEscapeWindow = time.Second
	// MinEscapeInterval: each sweep reads every Spark pod in the cache.
	MinEscapeInterval = 100 * time.Millisecond
)

// Validate checks a defaulted configuration. Each error names the field
// (e.g. "zonePinning.mode") and what it accepts. Every field sparkplane
// writes into pods (label keys and values of node selectors and affinity
// terms, tolerations, weights) is checked with the API server's own
// validation, so that no configuration it accepts can make a pod invalid.
func Validate(c *SparkplaneConfiguration) field.ErrorList {
	var errs field.ErrorList
	if c.APIVersion != GroupVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), c.APIVersion, "must be "+GroupVersion))
	}
	if c.Kind != Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), c.Kind, "must be "+Kind))
	}
	// The zone label is a nodeSelector key, a node affinity key and a pod
	// affinity topologyKey; the zone values come from nodes' labels.
	errs = append(errs, podvalidation.LabelKey(field.NewPath("zoneLabel"), c.ZoneLabel)...)
	errs = append(errs, validateProvider(field.NewPath("provider"), c.Provider)...)

	errs = append(errs, validateMode(field.NewPath("zonePinning", "mode"), c.ZonePinning.Mode)...)
	errs = append(errs, validateRule(field.NewPath("driver"), c.Driver)...)
	errs = append(errs, validateRule(field.NewPath("executor"), c.Executor)...)

	errs = append(errs, validateProtection(field.NewPath("disruptionProtection"), c.DisruptionProtection, c.Provider.Preset)...)

	ep := field.NewPath("availabilityEscape")
	if w := c.AvailabilityEscape.Window.Duration; w < MinEscapeWindow {
		errs = append(errs, field.Invalid(ep.Child("window"), w.String(), fmt.Sprintf(
			"must be at least %s, such as 5m: executors still pending after the window are deleted, and a shorter one deletes executors before any scheduler could place them", MinEscapeWindow)))
	}
	if i := c.AvailabilityEscape.Interval.Duration; i < MinEscapeInterval {
		errs = append(errs, field.Invalid(ep.Child("interval"), i.String(), fmt.Sprintf(
			"must be at least %s, such as 15s: every sweep reads all Spark pods", MinEscapeInterval)))
	}
	// The API server does not validate pod.spec.schedulerName; a name that
	// is no DNS subdomain would leave pods with no scheduler, pending.
	if c.SchedulerName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(c.SchedulerName) {
			errs = append(errs, field.Invalid(field.NewPath("schedulerName"), c.SchedulerName, msg))
		}
	}
	if w := c.PreferredWeight; w != nil && (*w < 1 || *w > 100) {
		errs = append(errs, field.Invalid(field.NewPath("preferredWeight"), *w,
			fmt.Sprintf("must be 1-100 (the weight of a preferred scheduling term); omit it for the default %d", DefaultPreferredWeight)))
	}
	return errs
}

func validateProvider(pp *field.Path, p Provider) field.ErrorList {
	var errs field.ErrorList
	if _, ok := Preset(p.Preset); !ok {
		errs = append(errs, field.NotSupported(pp.Child("preset"), p.Preset,
			[]string{ProviderKarpenter, ProviderEKS, ProviderGKE, ProviderAKS, ProviderCustom}))
	}
	if p.Label == "" {
		errs = append(errs, field.Required(pp.Child("label"), "set the node label that carries the capacity type (or choose a provider.preset)"))
	} else {
		errs = append(errs, podvalidation.LabelKey(pp.Child("label"), p.Label)...)
	}
	if p.SpotValue == "" {
		errs = append(errs, field.Required(pp.Child("spotValue"), "set the label value of spot nodes"))
	}
	// label In [spotValue], label In [onDemandValue] and label NotIn
	// [spotValue] are the node selector requirements of the capacity rules.
	for _, v := range []struct {
		name, value string
	}{{"spotValue", p.SpotValue}, {"onDemandValue", p.OnDemandValue}} {
		if v.value != "" {
			errs = append(errs, podvalidation.LabelValue(pp.Child(v.name), v.value)...)
		}
	}
	if p.OnDemandValue != "" && p.OnDemandValue == p.SpotValue {
		errs = append(errs, field.Invalid(pp.Child("onDemandValue"), p.OnDemandValue, "must differ from provider.spotValue"))
	}
	return append(errs, podvalidation.Tolerations(pp.Child("spotTolerations"), p.SpotTolerations)...)
}

// sparkplaneAnnotationPrefix is the domain of the annotations sparkplane
// reads (per-app settings) and writes (its decisions).
const sparkplaneAnnotationPrefix = "sparkplane.io/"

func validateProtection(pp *field.Path, p DisruptionProtection, preset string) field.ErrorList {
	ap := pp.Child("annotations")
	errs := podvalidation.Annotations(ap, p.Annotations)
	for _, k := range slices.Sorted(maps.Keys(p.Annotations)) {
		if strings.HasPrefix(k, sparkplaneAnnotationPrefix) {
			errs = append(errs, field.Invalid(ap, k, "sparkplane.io/ annotations are sparkplane's own settings and decisions: name the annotation your autoscaler reads, such as "+
				AnnotationKarpenterDoNotDisrupt+" or "+AnnotationSafeToEvict))
		}
	}
	// Nothing to write would protect nothing; an unknown preset (reported
	// under provider.preset) has no annotations to default to.
	if _, known := Preset(preset); known && len(p.Annotations) == 0 && (p.DriverProtected() || p.ExecutorProtected()) {
		errs = append(errs, field.Required(ap, fmt.Sprintf("set the annotations that protect a pod from voluntary disruption (%s: \"true\" for Karpenter, %s: \"false\" for cluster-autoscaler), omit the field for the provider preset's, or set driver: false and executor: false",
			AnnotationKarpenterDoNotDisrupt, AnnotationSafeToEvict)))
	}
	return errs
}

func validateMode(p *field.Path, m Mode) field.ErrorList {
	if slices.Contains(modes, string(m)) {
		return nil
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

// Parse decodes, defaults and validates a configuration document (YAML or
// JSON). Decoding is strict and case-sensitive; the error lists every
// problem found, each with its line and field path, e.g.
//
//	line 7: provider.spotTolerations[0].operator: Unsupported value: "Bogus": supported values: "Equal", "Exists"
func Parse(data []byte) (*SparkplaneConfiguration, error) {
	doc, err := yamlDocument(data)
	if err != nil {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	if doc == nil {
		return nil, fmt.Errorf("the file is empty: set apiVersion: %s and kind: %s", GroupVersion, Kind)
	}
	lines, all := yamlLines(doc)
	// sigs.k8s.io/yaml reads YAML as Kubernetes and Helm do (YAML 1.1:
	// an unquoted off is false), which Mode accepts.
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	c := &SparkplaneConfiguration{}
	errs := DecodeJSON(nil, j, c)
	if c.APIVersion == "" {
		errs = append(errs, field.Required(field.NewPath("apiVersion"), "set apiVersion: "+GroupVersion))
	}
	if c.Kind == "" {
		errs = append(errs, field.Required(field.NewPath("kind"), "set kind: "+Kind))
	}
	SetDefaults(c)
	errs = append(errs, Validate(c)...)
	if len(errs) == 0 && len(all) == 0 {
		return c, nil
	}
	for _, e := range errs {
		all = append(all, located{lineOf(lines, e.Field), e})
	}
	return nil, formatErrors(all)
}

// formatErrors lists errs in the order of their lines (errors of fields not
// in the file, such as defaults of a preset, last).
func formatErrors(errs []located) error {
	slices.SortStableFunc(errs, func(a, b located) int {
		switch {
		case a.line == b.line:
			return 0
		case a.line == 0:
			return 1
		case b.line == 0:
			return -1
		}
		return a.line - b.line
	})
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		if e.line > 0 {
			msgs = append(msgs, fmt.Sprintf("line %d: %s", e.line, e.err.Error()))
		} else {
			msgs = append(msgs, e.err.Error())
		}
	}
	noun := "errors"
	if len(msgs) == 1 {
		noun = "error"
	}
	return fmt.Errorf("invalid configuration (%d %s; 'sparkplane config print-defaults' shows every field):\n  %s", len(msgs), noun, strings.Join(msgs, "\n  "))
}
