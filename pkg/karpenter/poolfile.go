package karpenter

import (
	"errors"
	"fmt"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// NodePoolsFile is the file `sparkplane local up --nodepool-file` reads:
//
//	nodePools:
//	- name: default
//	  capacityTypes: [spot, on-demand]
//	  consolidationPolicy: WhenEmptyOrUnderutilized
//	  consolidateAfter: 30s
//	  budgets: [{nodes: "100%"}]
//	  limits: {cpu: "64"}
type NodePoolsFile struct {
	NodePools []NodePoolOptions `json:"nodePools"`
}

// ParseNodePools reads a NodePoolsFile strictly (field names are
// case-sensitive; unknown and duplicate fields are errors) and renders every
// pool with nodeClass (for pools that name none) to check its values. Errors
// name the field: `nodePools[0].consolidationPolicyy: unknown field`.
func ParseNodePools(data []byte, nodeClass string) ([]NodePoolOptions, error) {
	j, err := yaml.YAMLToJSONStrict(data) // refuses duplicate keys, which YAMLToJSON resolves silently
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var f NodePoolsFile
	strict, err := sigsjson.UnmarshalStrict(j, &f, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = strings.TrimPrefix(e.Error(), "json: ")
		}
		return nil, fmt.Errorf("%s (fields: name, nodeClass, capacityTypes, zones, consolidationPolicy, consolidateAfter, budgets, limits, weight, labels, taints)", strings.Join(msgs, "; "))
	}
	if len(f.NodePools) == 0 {
		return nil, errors.New("nodePools: list at least one pool (e.g. nodePools: [{name: default}])")
	}
	seen := map[string]bool{}
	for i := range f.NodePools {
		p := &f.NodePools[i]
		if p.NodeClass == "" {
			p.NodeClass = nodeClass
		}
		if _, err := RenderNodePool(*p); err != nil {
			return nil, fmt.Errorf("nodePools[%d]: %w", i, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("nodePools[%d].name %q: pool names must be distinct", i, p.Name)
		}
		seen[p.Name] = true
	}
	return f.NodePools, nil
}

// Price is the hourly price of instance type name in zone as capacityType,
// from a catalog made by InstanceTypes.
func Price(catalog []InstanceType, name, zone, capacityType string) (float64, bool) {
	for _, it := range catalog {
		if it.Name != name {
			continue
		}
		if o, ok := it.Offering(zone, capacityType); ok {
			return o.Price, true
		}
	}
	return 0, false
}
