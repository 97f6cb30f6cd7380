package karpenter

import (
	"strings"
	"testing"
)

func TestParseNodePools(t *testing.T) {
	pools, err := ParseNodePools([]byte(`
nodePools:
- name: spot
  capacityTypes: [spot]
  consolidationPolicy: WhenEmpty
  consolidateAfter: 10s
  budgets: [{nodes: "100%"}]
- name: od
  nodeClass: other
  capacityTypes: [on-demand]
  limits: {cpu: "64"}
  weight: 10
  taints: [{key: dedicated, value: spark, effect: NoSchedule}]
`), "local")
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 2 || pools[0].NodeClass != "local" || pools[1].NodeClass != "other" ||
		pools[0].ConsolidateAfter != "10s" || pools[1].Limits["cpu"] != "64" || *pools[1].Weight != 10 ||
		len(pools[1].Taints) != 1 || pools[1].Taints[0].Effect != "NoSchedule" {
		t.Fatalf("pools = %+v", pools)
	}
}

func TestParseNodePoolsErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"typo", "nodePools:\n- name: a\n  consolidationPolicyy: WhenEmpty\n", `unknown field "nodePools[0].consolidationPolicyy"`},
		{"case", "nodePools:\n- Name: a\n", `unknown field "nodePools[0].Name"`},
		{"duplicate", "nodePools:\n- name: a\n  name: b\n", `line 3: key "name" already set`},
		{"bad policy", "nodePools:\n- name: a\n  consolidationPolicy: WhenUnderutilized\n", `nodePools[0]: nodePool "a": consolidationPolicy "WhenUnderutilized": use WhenEmpty`},
		{"bad after", "nodePools:\n- name: a\n  consolidateAfter: 1.5m\n", `consolidateAfter "1.5m"`},
		{"bad capacity", "nodePools:\n- name: a\n  capacityTypes: [Spot]\n", `capacityTypes[0] "Spot": use spot or on-demand`},
		{"no name", "nodePools:\n- consolidateAfter: 10s\n", `nodePools[0]: nodePool.name: a name is needed`},
		{"twice", "nodePools:\n- name: a\n- name: a\n", `nodePools[1].name "a": pool names must be distinct`},
		{"empty", "", `list at least one pool`},
		{"not yaml", "nodePools: [", `not valid YAML`},
		{"bad taint", "nodePools:\n- name: a\n  taints: [{key: dedicated, effect: NoScheduel}]\n", `nodePools[0]: nodePool "a": taints[0].effect "NoScheduel": use NoSchedule, PreferNoSchedule or NoExecute`},
		{"taint key", "nodePools:\n- name: a\n  taints: [{key: \"a b\", effect: NoSchedule}]\n", `taints[0].key "a b"`},
		{"wrong type", "nodePools:\n- name: a\n  weight: heavy\n", `weight`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNodePools([]byte(tc.file), "local")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	cat, err := InstanceTypes(CatalogOptions{Zones: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	od, ok := Price(cat, "c5.large", "a", CapacityOnDemand)
	if !ok || od != 0.085 {
		t.Fatalf("c5.large on-demand = %v %v, want 0.085", od, ok)
	}
	spot, ok := Price(cat, "c5.large", "a", CapacitySpot)
	if !ok || spot >= od {
		t.Fatalf("c5.large spot = %v %v, want below %v", spot, ok, od)
	}
	if _, ok := Price(cat, "r5.large", "b", CapacitySpot); ok {
		t.Fatal("r5 spot in the last zone should not be offered")
	}
	if _, ok := Price(cat, "x1.huge", "a", CapacitySpot); ok {
		t.Fatal("unknown type priced")
	}
}
