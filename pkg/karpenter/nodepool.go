package karpenter

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
)

// API groups, versions and kinds of the objects rendered here.
const (
	NodePoolAPIVersion  = "karpenter.sh/v1"
	NodePoolKind        = "NodePool"
	NodeClassGroup      = "karpenter.kwok.sh"
	NodeClassAPIVersion = NodeClassGroup + "/v1alpha1"
	NodeClassKind       = "KWOKNodeClass"
)

// Consolidation policies of a NodePool (Karpenter's default is
// WhenEmptyOrUnderutilized).
const (
	ConsolidateWhenEmpty                = "WhenEmpty"
	ConsolidateWhenEmptyOrUnderutilized = "WhenEmptyOrUnderutilized"
	ConsolidateBalanced                 = "Balanced"
	consolidationPolicies               = ConsolidateWhenEmpty + ", " + ConsolidateWhenEmptyOrUnderutilized + " or " + ConsolidateBalanced
	budgetReasons                       = "Underutilized, Empty, Drifted or Unhealthy"
)

// The patterns Karpenter's CRDs validate these fields with; checking them
// here turns an API server rejection into an error that names our option.
var (
	durationOrNever = regexp.MustCompile(`^(([0-9]+(s|m|h))+|Never)$`)
	budgetNodes     = regexp.MustCompile(`^((100|[0-9]{1,2})%|[0-9]+)$`)
	budgetDuration  = regexp.MustCompile(`^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$`)
	budgetSchedule  = regexp.MustCompile(`^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$`)
)

// Metadata is the metadata of a rendered (cluster-scoped) object.
type Metadata struct {
	Name string `json:"name"`
}

// NodeClassOptions configure a KWOKNodeClass.
type NodeClassOptions struct {
	// Name of the KWOKNodeClass (cluster-scoped).
	Name string
	// RegistrationDelay is how long the provider waits before it creates a
	// new node's Node object, modelling instance start-up; whole seconds.
	RegistrationDelay time.Duration
}

// NodeClass is a KWOKNodeClass. Its status defaults to Ready in the CRD.
type NodeClass struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   Metadata      `json:"metadata"`
	Spec       NodeClassSpec `json:"spec"`
}

// NodeClassSpec is a KWOKNodeClass's spec.
type NodeClassSpec struct {
	NodeRegistrationDelay string `json:"nodeRegistrationDelay,omitempty"`
}

// RenderNodeClass validates opts and returns the KWOKNodeClass.
func RenderNodeClass(opts NodeClassOptions) (*NodeClass, error) {
	if err := validateName("nodeClass.name", opts.Name); err != nil {
		return nil, err
	}
	nc := &NodeClass{APIVersion: NodeClassAPIVersion, Kind: NodeClassKind, Metadata: Metadata{Name: opts.Name}}
	if opts.RegistrationDelay != 0 {
		d, err := karpenterDuration(opts.RegistrationDelay)
		if err != nil {
			return nil, fmt.Errorf("nodeClass.registrationDelay: %w", err)
		}
		nc.Spec.NodeRegistrationDelay = d
	}
	return nc, nil
}

// Budget is a NodePool disruption budget: at most Nodes (a count or a
// percentage like "10%") of the pool's nodes may be disrupted at once, for
// Reasons (all when empty), during Duration after each Schedule (a cron
// expression; always when both are empty).
type Budget struct {
	Nodes    string   `json:"nodes"`
	Reasons  []string `json:"reasons,omitempty"`
	Schedule string   `json:"schedule,omitempty"`
	Duration string   `json:"duration,omitempty"`
}

// NodePoolOptions configure a NodePool.
type NodePoolOptions struct {
	// Name of the NodePool (cluster-scoped); Karpenter labels its nodes
	// karpenter.sh/nodepool=Name.
	Name string `json:"name"`
	// NodeClass names the KWOKNodeClass its nodes use.
	NodeClass string `json:"nodeClass,omitempty"`
	// CapacityTypes the pool may launch: spot and/or on-demand (both when
	// empty).
	CapacityTypes []string `json:"capacityTypes,omitempty"`
	// Zones restricts the pool to these zones (all zones of the instance
	// types when empty).
	Zones []string `json:"zones,omitempty"`
	// ConsolidationPolicy: WhenEmpty, WhenEmptyOrUnderutilized or Balanced
	// (Karpenter's default, WhenEmptyOrUnderutilized, when empty).
	ConsolidationPolicy string `json:"consolidationPolicy,omitempty"`
	// ConsolidateAfter is how long a node must be consolidatable before
	// Karpenter acts: "30s", "1m30s", "Never" (Karpenter's default, 0s, when
	// empty).
	ConsolidateAfter string `json:"consolidateAfter,omitempty"`
	// Budgets limit how many nodes may be disrupted at once (Karpenter's
	// default, 10% of the pool's nodes, when empty).
	Budgets []Budget `json:"budgets,omitempty"`
	// Limits cap the pool's total resources, e.g. cpu: 64; provisioning
	// stops at the limit.
	Limits map[string]string `json:"limits,omitempty"`
	// Weight orders pools: Karpenter tries higher weights first (0-100).
	Weight *int32 `json:"weight,omitempty"`
	// Labels are put on every node of the pool.
	Labels map[string]string `json:"labels,omitempty"`
	// Taints are put on every node of the pool: only pods that tolerate
	// them run there (a pool dedicated to Spark, say).
	Taints []corev1.Taint `json:"taints,omitempty"`
}

// NodePool is a Karpenter v1 NodePool.
type NodePool struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   Metadata     `json:"metadata"`
	Spec       NodePoolSpec `json:"spec"`
}

// NodePoolSpec is a NodePool's spec.
type NodePoolSpec struct {
	Template   NodeClaimTemplate            `json:"template"`
	Disruption *Disruption                  `json:"disruption,omitempty"`
	Limits     map[string]resource.Quantity `json:"limits,omitempty"`
	Weight     *int32                       `json:"weight,omitempty"`
}

// NodeClaimTemplate is the template of a NodePool's NodeClaims.
type NodeClaimTemplate struct {
	Metadata *TemplateMetadata `json:"metadata,omitempty"`
	Spec     NodeClaimSpec     `json:"spec"`
}

// TemplateMetadata is the labels a NodePool puts on its nodes.
type TemplateMetadata struct {
	Labels map[string]string `json:"labels,omitempty"`
}

// NodeClaimSpec is the spec of a NodePool's NodeClaim template.
type NodeClaimSpec struct {
	NodeClassRef NodeClassRef   `json:"nodeClassRef"`
	Requirements []Requirement  `json:"requirements"`
	Taints       []corev1.Taint `json:"taints,omitempty"`
}

// NodeClassRef names a NodePool's node class.
type NodeClassRef struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

// Requirement is a node selector requirement of a NodePool.
type Requirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Disruption is a NodePool's disruption settings.
type Disruption struct {
	ConsolidationPolicy string   `json:"consolidationPolicy,omitempty"`
	ConsolidateAfter    string   `json:"consolidateAfter,omitempty"`
	Budgets             []Budget `json:"budgets,omitempty"`
}

// RenderNodePool validates opts and returns the NodePool. Errors name the
// option (nodePool.<field>) and say what is accepted.
func RenderNodePool(opts NodePoolOptions) (*NodePool, error) {
	if err := validateName("nodePool.name", opts.Name); err != nil {
		return nil, err
	}
	field := func(f string) string { return fmt.Sprintf("nodePool %q: %s", opts.Name, f) }
	if err := validateName(field("nodeClass"), opts.NodeClass); err != nil {
		return nil, err
	}
	capacityTypes := opts.CapacityTypes
	if len(capacityTypes) == 0 {
		capacityTypes = []string{CapacitySpot, CapacityOnDemand}
	}
	for i, ct := range capacityTypes {
		if ct != CapacitySpot && ct != CapacityOnDemand {
			return nil, fmt.Errorf("%s[%d] %q: use %s or %s", field("capacityTypes"), i, ct, CapacitySpot, CapacityOnDemand)
		}
		if slices.Contains(capacityTypes[:i], ct) {
			return nil, fmt.Errorf("%s[%d] %q is listed twice", field("capacityTypes"), i, ct)
		}
	}
	np := &NodePool{
		APIVersion: NodePoolAPIVersion, Kind: NodePoolKind, Metadata: Metadata{Name: opts.Name},
		Spec: NodePoolSpec{Template: NodeClaimTemplate{Spec: NodeClaimSpec{
			NodeClassRef: NodeClassRef{Group: NodeClassGroup, Kind: NodeClassKind, Name: opts.NodeClass},
			Requirements: []Requirement{{Key: LabelCapacityType, Operator: "In", Values: slices.Clone(capacityTypes)}},
		}}},
	}
	if len(opts.Zones) > 0 {
		if err := validateZones(field("zones"), opts.Zones); err != nil {
			return nil, err
		}
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
			Requirement{Key: "topology.kubernetes.io/zone", Operator: "In", Values: slices.Clone(opts.Zones)})
	}
	if len(opts.Labels) > 0 {
		for k, v := range opts.Labels {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return nil, fmt.Errorf("%s: key %q: %s", field("labels"), k, errs[0])
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				return nil, fmt.Errorf("%s[%s] %q: %s", field("labels"), k, v, errs[0])
			}
		}
		np.Spec.Template.Metadata = &TemplateMetadata{Labels: opts.Labels}
	}

	for i, taint := range opts.Taints {
		f := fmt.Sprintf("%s[%d]", field("taints"), i)
		if errs := validation.IsQualifiedName(taint.Key); len(errs) > 0 {
			return nil, fmt.Errorf("%s.key %q: %s", f, taint.Key, errs[0])
		}
		if errs := validation.IsValidLabelValue(taint.Value); len(errs) > 0 {
			return nil, fmt.Errorf("%s.value %q: %s", f, taint.Value, errs[0])
		}
		switch taint.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("%s.effect %q: use NoSchedule, PreferNoSchedule or NoExecute", f, taint.Effect)
		}
		np.Spec.Template.Spec.Taints = append(np.Spec.Template.Spec.Taints, corev1.Taint{Key: taint.Key, Value: taint.Value, Effect: taint.Effect})
	}

	d, err := disruption(opts, field)
	if err != nil {
		return nil, err
	}
	np.Spec.Disruption = d

	if len(opts.Limits) > 0 {
		np.Spec.Limits = map[string]resource.Quantity{}
		for name, v := range opts.Limits {
			if errs := validation.IsQualifiedName(name); len(errs) > 0 {
				return nil, fmt.Errorf("%s: resource name %q: %s", field("limits"), name, errs[0])
			}
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return nil, fmt.Errorf("%s[%s] %q is not a quantity (e.g. 64, 256Gi): %w", field("limits"), name, v, err)
			}
			if q.Sign() < 0 {
				return nil, fmt.Errorf("%s[%s] %q must not be negative", field("limits"), name, v)
			}
			np.Spec.Limits[name] = q
		}
	}
	if opts.Weight != nil {
		if *opts.Weight < 0 || *opts.Weight > 100 {
			return nil, fmt.Errorf("%s %d: use 0 to 100", field("weight"), *opts.Weight)
		}
		w := *opts.Weight
		np.Spec.Weight = &w
	}
	return np, nil
}

func disruption(opts NodePoolOptions, field func(string) string) (*Disruption, error) {
	if opts.ConsolidationPolicy == "" && opts.ConsolidateAfter == "" && len(opts.Budgets) == 0 {
		return nil, nil
	}
	d := &Disruption{ConsolidationPolicy: opts.ConsolidationPolicy, ConsolidateAfter: opts.ConsolidateAfter}
	switch opts.ConsolidationPolicy {
	case "", ConsolidateWhenEmpty, ConsolidateWhenEmptyOrUnderutilized, ConsolidateBalanced:
	default:
		return nil, fmt.Errorf("%s %q: use %s", field("consolidationPolicy"), opts.ConsolidationPolicy, consolidationPolicies)
	}
	if a := opts.ConsolidateAfter; a != "" {
		if err := checkDuration(a); err != nil {
			return nil, fmt.Errorf("%s %q: %w", field("consolidateAfter"), a, err)
		}
	}
	for i, b := range opts.Budgets {
		f := fmt.Sprintf("%s[%d]", field("budgets"), i)
		if !budgetNodes.MatchString(b.Nodes) {
			return nil, fmt.Errorf("%s.nodes %q: use a node count (3) or a percentage of the pool's nodes (0%% to 100%%)", f, b.Nodes)
		}
		for j, r := range b.Reasons {
			if !slices.Contains([]string{"Underutilized", "Empty", "Drifted", "Unhealthy"}, r) {
				return nil, fmt.Errorf("%s.reasons[%d] %q: use %s", f, j, r, budgetReasons)
			}
		}
		if (b.Schedule == "") != (b.Duration == "") {
			return nil, fmt.Errorf("%s: schedule and duration go together: set both (e.g. schedule \"0 9 * * 1-5\", duration 8h) or neither", f)
		}
		if b.Schedule != "" && !budgetSchedule.MatchString(b.Schedule) {
			return nil, fmt.Errorf("%s.schedule %q: use a cron expression of 5 fields or a macro such as @daily or @hourly", f, b.Schedule)
		}
		if b.Duration != "" && !budgetDuration.MatchString(b.Duration) {
			return nil, fmt.Errorf("%s.duration %q: use hours and/or minutes, e.g. 8h, 30m, 1h30m", f, b.Duration)
		}
		d.Budgets = append(d.Budgets, Budget{Nodes: b.Nodes, Reasons: slices.Clone(b.Reasons), Schedule: b.Schedule, Duration: b.Duration})
	}
	return d, nil
}

// checkDuration accepts what Karpenter's duration fields accept: "Never" or
// a sum of whole seconds, minutes and hours like 1m30s.
func checkDuration(s string) error {
	if !durationOrNever.MatchString(s) {
		return errors.New(`use whole seconds, minutes or hours (30s, 5m, 1h30m), or Never`)
	}
	return nil
}

// karpenterDuration formats d the way Karpenter's duration fields accept
// (1h2m3s); d must be whole seconds and positive.
func karpenterDuration(d time.Duration) (string, error) {
	if d <= 0 || d%time.Second != 0 {
		return "", fmt.Errorf("%s: use a positive whole number of seconds", d)
	}
	s := int64(d / time.Second)
	out := ""
	if h := s / 3600; h > 0 {
		out += fmt.Sprintf("%dh", h)
	}
	if m := s / 60 % 60; m > 0 {
		out += fmt.Sprintf("%dm", m)
	}
	if sec := s % 60; sec > 0 || out == "" {
		out += fmt.Sprintf("%ds", sec)
	}
	return out, nil
}

func validateName(field, name string) error {
	if name == "" {
		return fmt.Errorf("%s: a name is needed", field)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%s %q: %s", field, name, errs[0])
	}
	return nil
}

// ToUnstructured converts a rendered object (NodeClass, NodePool) for a
// dynamic client.
func ToUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}
