package karpenter

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestRenderNodePool(t *testing.T) {
	weight := int32(10)
	tests := []struct {
		name string
		opts NodePoolOptions
		want string
	}{
		{"defaults", NodePoolOptions{Name: "default", NodeClass: "kwok"}, `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      nodeClassRef:
        group: karpenter.kwok.sh
        kind: KWOKNodeClass
        name: kwok
      requirements:
      - key: karpenter.sh/capacity-type
        operator: In
        values:
        - spot
        - on-demand
`},
		{"every option", NodePoolOptions{
			Name: "spot", NodeClass: "kwok", CapacityTypes: []string{"spot"}, Zones: []string{"zone-a", "zone-b"},
			ConsolidationPolicy: "WhenEmpty", ConsolidateAfter: "30s",
			Budgets: []Budget{{Nodes: "100%"}, {Nodes: "0", Reasons: []string{"Underutilized"}, Schedule: "@daily", Duration: "8h"}},
			Limits:  map[string]string{"cpu": "64", "memory": "256Gi"}, Weight: &weight,
			Labels: map[string]string{"sparkplane.io/pool": "spot"},
		}, `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: spot
spec:
  disruption:
    budgets:
    - nodes: 100%
    - duration: 8h
      nodes: "0"
      reasons:
      - Underutilized
      schedule: '@daily'
    consolidateAfter: 30s
    consolidationPolicy: WhenEmpty
  limits:
    cpu: "64"
    memory: 256Gi
  template:
    metadata:
      labels:
        sparkplane.io/pool: spot
    spec:
      nodeClassRef:
        group: karpenter.kwok.sh
        kind: KWOKNodeClass
        name: kwok
      requirements:
      - key: karpenter.sh/capacity-type
        operator: In
        values:
        - spot
      - key: topology.kubernetes.io/zone
        operator: In
        values:
        - zone-a
        - zone-b
  weight: 10
`},
		{"consolidation never", NodePoolOptions{Name: "od", NodeClass: "kwok", CapacityTypes: []string{"on-demand"}, ConsolidateAfter: "Never"}, `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: od
spec:
  disruption:
    consolidateAfter: Never
  template:
    spec:
      nodeClassRef:
        group: karpenter.kwok.sh
        kind: KWOKNodeClass
        name: kwok
      requirements:
      - key: karpenter.sh/capacity-type
        operator: In
        values:
        - on-demand
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			np, err := RenderNodePool(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(np)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			u, err := ToUnstructured(np)
			if err != nil {
				t.Fatal(err)
			}
			if u.GetName() != tt.opts.Name || u.GetKind() != NodePoolKind || u.GetAPIVersion() != NodePoolAPIVersion {
				t.Errorf("unstructured is %s %s %s", u.GetAPIVersion(), u.GetKind(), u.GetName())
			}
		})
	}
}

func TestRenderNodePoolErrors(t *testing.T) {
	valid := func(f func(*NodePoolOptions)) NodePoolOptions {
		o := NodePoolOptions{Name: "p", NodeClass: "kwok"}
		f(&o)
		return o
	}
	w := int32(101)
	tests := []struct {
		name string
		opts NodePoolOptions
		want string
	}{
		{"no name", valid(func(o *NodePoolOptions) { o.Name = "" }), "nodePool.name: a name is needed"},
		{"bad name", valid(func(o *NodePoolOptions) { o.Name = "Spot_Pool" }), `nodePool.name "Spot_Pool"`},
		{"no node class", valid(func(o *NodePoolOptions) { o.NodeClass = "" }), `nodePool "p": nodeClass: a name is needed`},
		{"capacity type typo", valid(func(o *NodePoolOptions) { o.CapacityTypes = []string{"spot", "ondemand"} }), `nodePool "p": capacityTypes[1] "ondemand": use spot or on-demand`},
		{"capacity type twice", valid(func(o *NodePoolOptions) { o.CapacityTypes = []string{"spot", "spot"} }), `capacityTypes[1] "spot" is listed twice`},
		{"zone twice", valid(func(o *NodePoolOptions) { o.Zones = []string{"a", "a"} }), `nodePool "p": zones[1] "a" is listed twice`},
		{"policy typo", valid(func(o *NodePoolOptions) { o.ConsolidationPolicy = "WhenUnderutilized" }), `consolidationPolicy "WhenUnderutilized": use WhenEmpty, WhenEmptyOrUnderutilized or Balanced`},
		{"consolidateAfter fraction", valid(func(o *NodePoolOptions) { o.ConsolidateAfter = "1.5s" }), `consolidateAfter "1.5s": use whole seconds`},
		{"consolidateAfter ms", valid(func(o *NodePoolOptions) { o.ConsolidateAfter = "500ms" }), `consolidateAfter "500ms"`},
		{"budget nodes", valid(func(o *NodePoolOptions) { o.Budgets = []Budget{{Nodes: "150%"}} }), `budgets[0].nodes "150%": use a node count`},
		{"budget nodes empty", valid(func(o *NodePoolOptions) { o.Budgets = []Budget{{}} }), `budgets[0].nodes ""`},
		{"budget reason", valid(func(o *NodePoolOptions) { o.Budgets = []Budget{{Nodes: "1", Reasons: []string{"Emptiness"}}} }), `budgets[0].reasons[0] "Emptiness": use Underutilized, Empty, Drifted or Unhealthy`},
		{"schedule without duration", valid(func(o *NodePoolOptions) { o.Budgets = []Budget{{Nodes: "1", Schedule: "@daily"}} }), `budgets[0]: schedule and duration go together`},
		{"bad schedule", valid(func(o *NodePoolOptions) { o.Budgets = []Budget{{Nodes: "1", Schedule: "daily", Duration: "1h"}} }), `budgets[0].schedule "daily"`},
		{"bad duration", valid(func(o *NodePoolOptions) { o.Budgets = []Budget{{Nodes: "1", Schedule: "@daily", Duration: "30s"}} }), `budgets[0].duration "30s": use hours and/or minutes`},
		{"limit not a quantity", valid(func(o *NodePoolOptions) { o.Limits = map[string]string{"cpu": "lots"} }), `limits[cpu] "lots" is not a quantity`},
		{"negative limit", valid(func(o *NodePoolOptions) { o.Limits = map[string]string{"cpu": "-1"} }), `limits[cpu] "-1" must not be negative`},
		{"weight", valid(func(o *NodePoolOptions) { o.Weight = &w }), `weight 101: use 0 to 100`},
		{"label value", valid(func(o *NodePoolOptions) { o.Labels = map[string]string{"team": "a b"} }), `labels[team] "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			np, err := RenderNodePool(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if np != nil {
				t.Errorf("got a NodePool with the error: %+v", np)
			}
		})
	}
}

func TestRenderNodeClass(t *testing.T) {
	tests := []struct {
		name    string
		opts    NodeClassOptions
		want    string
		wantErr string
	}{
		{"no delay", NodeClassOptions{Name: "kwok"}, "apiVersion: karpenter.kwok.sh/v1alpha1\nkind: KWOKNodeClass\nmetadata:\n  name: kwok\nspec: {}\n", ""},
		{"delay", NodeClassOptions{Name: "kwok", RegistrationDelay: 90 * time.Second}, "nodeRegistrationDelay: 1m30s", ""},
		{"hours", NodeClassOptions{Name: "kwok", RegistrationDelay: time.Hour + 2*time.Second}, "nodeRegistrationDelay: 1h2s", ""},
		{"fraction", NodeClassOptions{Name: "kwok", RegistrationDelay: 1500 * time.Millisecond}, "", "nodeClass.registrationDelay: 1.5s: use a positive whole number of seconds"},
		{"negative", NodeClassOptions{Name: "kwok", RegistrationDelay: -time.Second}, "", "nodeClass.registrationDelay"},
		{"no name", NodeClassOptions{}, "", "nodeClass.name: a name is needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := RenderNodeClass(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := yaml.Marshal(nc)
			if !strings.Contains(string(got), tt.want) {
				t.Errorf("got\n%s\nwant it to contain %q", got, tt.want)
			}
		})
	}
}
