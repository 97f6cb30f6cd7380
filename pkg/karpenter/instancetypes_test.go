package karpenter

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// upstreamEntry is the first entry of the KWOK provider's own
// kwok/cloudprovider/instance_types.json (v1.15.0), cut to one offering.
const upstreamEntry = `{
  "name": "c-1x-amd64-linux",
  "offerings": [
    {
      "Price": 0.019003238553599998,
      "Available": true,
      "Requirements": [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["test-zone-a"]}
      ]
    }
  ],
  "architecture": "amd64",
  "operatingSystems": ["linux"],
  "resources": {"cpu": "1", "ephemeral-storage": "20Gi", "memory": "2Gi", "pods": "16"}
}`

// TestInstanceTypeJSONMatchesUpstream decodes an entry of upstream's file and
// encodes it again: every field must survive, so our tags are the provider's.
func TestInstanceTypeJSONMatchesUpstream(t *testing.T) {
	var it InstanceType
	dec := json.NewDecoder(strings.NewReader(upstreamEntry))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&it); err != nil {
		t.Fatalf("decoding upstream's entry: %v", err)
	}
	if o, ok := it.Offering("test-zone-a", CapacitySpot); !ok || o.Price != 0.019003238553599998 {
		t.Errorf("Offering(test-zone-a, spot) = %+v, %v; want upstream's spot offering", o, ok)
	}
	out, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal([]byte(upstreamEntry), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("round trip changed the entry:\n got %s\nwant %s", out, upstreamEntry)
	}
}

func TestInstanceTypes(t *testing.T) {
	zones := []string{"zone-a", "zone-b", "zone-c"}
	tests := []struct {
		name   string
		opts   CatalogOptions
		noSpot map[string][]string // zone -> families without spot there
	}{
		{"three zones", CatalogOptions{Zones: zones}, map[string][]string{"zone-c": {"r5"}}},
		{"one zone has spot for all", CatalogOptions{Zones: []string{"only"}}, nil},
		{"no spot in a zone", CatalogOptions{Zones: zones, NoSpotZones: []string{"zone-b"}},
			map[string][]string{"zone-b": {"c5", "m5", "r5"}, "zone-c": {"r5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			its, err := InstanceTypes(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(its) != 15 {
				t.Fatalf("got %d instance types, want 3 families x 5 sizes", len(its))
			}
			cheapestSpotZone := map[string]string{} // family -> zone of the cheapest 2-vCPU spot
			for _, it := range its {
				fam := it.Name[:strings.Index(it.Name, ".")]
				cpu := it.Resources.Cpu().Value()
				gib := it.Resources.Memory().Value() >> 30
				if cpu < 2 || cpu > 32 {
					t.Errorf("%s: %d vCPU, want 2 to 32", it.Name, cpu)
				}
				if ratio := map[string]int64{"c5": 2, "m5": 4, "r5": 8}[fam]; gib != ratio*cpu {
					t.Errorf("%s: %d GiB for %d vCPU, want %d GiB per vCPU", it.Name, gib, cpu, ratio)
				}
				if it.Architecture != "amd64" || !reflect.DeepEqual(it.OperatingSystems, []corev1.OSName{corev1.Linux}) {
					t.Errorf("%s: %s %v, want amd64 linux", it.Name, it.Architecture, it.OperatingSystems)
				}
				var odPrice float64
				best := 0.0
				for i, z := range tt.opts.Zones {
					od, ok := it.Offering(z, CapacityOnDemand)
					if !ok {
						t.Fatalf("%s: no on-demand offering in %s", it.Name, z)
					}
					if i > 0 && od.Price != odPrice {
						t.Errorf("%s: on-demand %v in %s, %v in %s; want one on-demand price per type", it.Name, od.Price, z, odPrice, tt.opts.Zones[0])
					}
					odPrice = od.Price
					spot, ok := it.Offering(z, CapacitySpot)
					wantSpot := !slices.Contains(tt.noSpot[z], fam)
					if ok != wantSpot {
						t.Errorf("%s in %s: spot offered = %v, want %v", it.Name, z, ok, wantSpot)
					}
					if !ok {
						continue
					}
					if f := spot.Price / od.Price; f < 0.29 || f > 0.71 {
						t.Errorf("%s in %s: spot at %.2f of on-demand, want 0.30 to 0.70", it.Name, z, f)
					}
					if cpu == 2 && (best == 0 || spot.Price < best) {
						best, cheapestSpotZone[fam] = spot.Price, z
					}
				}
			}
			if len(tt.opts.Zones) == 3 && len(tt.noSpot["zone-b"]) == 0 {
				distinct := map[string]bool{}
				for _, z := range cheapestSpotZone {
					distinct[z] = true
				}
				if len(distinct) < 2 {
					t.Errorf("cheapest spot zone per family = %v; want spot prices that differ by zone and family", cheapestSpotZone)
				}
			}
		})
	}
}

func TestInstanceTypesDeterministic(t *testing.T) {
	opts := CatalogOptions{Zones: []string{"zone-a", "zone-b"}}
	a, err := InstanceTypesJSON(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := InstanceTypesJSON(opts)
	if string(a) != string(b) {
		t.Error("two calls with the same zones gave different files")
	}
}

func TestInstanceTypesErrors(t *testing.T) {
	tests := []struct {
		name string
		opts CatalogOptions
		want string
	}{
		{"no zones", CatalogOptions{}, "zones: at least one zone"},
		{"empty zone", CatalogOptions{Zones: []string{"a", ""}}, "zones[1]: a zone name must not be empty"},
		{"duplicate", CatalogOptions{Zones: []string{"a", "b", "a"}}, `zones[2] "a" is listed twice`},
		{"not a label value", CatalogOptions{Zones: []string{"zone a"}}, `zones[0] "zone a" is not a valid label value`},
		{"unknown no-spot zone", CatalogOptions{Zones: []string{"a"}, NoSpotZones: []string{"b"}}, `noSpotZones[0] "b" is not one of the zones`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := InstanceTypesJSON(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
