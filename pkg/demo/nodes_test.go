package demo

import (
	"math"
	"testing"
	"time"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

func TestUsageAndLaunched(t *testing.T) {
	catalog, err := karpenter.InstanceTypes(karpenter.CatalogOptions{Zones: []string{"zone-a", "zone-b"}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	nodes := []localcluster.Node{
		{Name: "static", Zone: "zone-a", Capacity: "on-demand", Created: t0}, // not Karpenter's
		{Name: "before", Zone: "zone-a", Capacity: "spot", InstanceType: "c5.large", PricePerHour: 0.0255, Created: t0.Add(-time.Second), Deleted: t0.Add(time.Minute)},
		{Name: "drv", Zone: "zone-b", Capacity: "on-demand", InstanceType: "c5.large", PricePerHour: 0.085, Created: t0.Add(2 * time.Second), Deleted: t0.Add(362 * time.Second)},
		{Name: "exec", Zone: "zone-b", Capacity: "spot", InstanceType: "m5.xlarge", PricePerHour: 0.108, Created: t0.Add(time.Second), Deleted: t0.Add(1801 * time.Second)},
		{Name: "up", Zone: "zone-b", Capacity: "spot", InstanceType: "m5.xlarge", PricePerHour: 0.108, Created: t0.Add(3 * time.Second)},
		{Name: "after", Zone: "zone-a", Capacity: "spot", InstanceType: "c5.large", PricePerHour: 0.0255, Created: t0.Add(time.Hour)},
	}
	for _, tt := range []struct {
		name     string
		from, to time.Time
		want     []string
		nodeSecs float64
		vcpuSecs float64
		cost     float64
		byZone   string
	}{
		{"one run", t0, t0.Add(time.Minute), []string{"exec", "drv", "up"}, 1800 + 360 + 597, 1800*4 + 360*2 + 597*4, 0.108*0.5 + 0.085*0.1 + 0.108*597/3600, "b/on-demand:1 b/spot:2"},
		{"no end", t0.Add(time.Minute), time.Time{}, []string{"after"}, 0, 0, 0, "a/spot:1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Launched(nodes, tt.from, tt.to)
			var names []string
			for _, n := range got {
				names = append(names, n.Name)
			}
			if len(names) != len(tt.want) {
				t.Fatalf("Launched = %v, want %v", names, tt.want)
			}
			for i := range names {
				if names[i] != tt.want[i] {
					t.Fatalf("Launched = %v, want %v (oldest first)", names, tt.want)
				}
			}
			// "up" is still up: it counts until now; "after" was created at now.
			u := Usage(got, catalog, t0.Add(600*time.Second))
			if tt.name == "no end" {
				u = Usage(got, catalog, t0.Add(time.Hour))
			}
			if u.Nodes != len(tt.want) || u.ByZone != tt.byZone || !near(u.NodeSeconds, tt.nodeSecs) || !near(u.VCPUSeconds, tt.vcpuSecs) || !near(u.Cost, tt.cost) {
				t.Errorf("Usage = %+v, want %d nodes, %s, %.0f node-s, %.0f vCPU-s, $%.5f", u, len(tt.want), tt.byZone, tt.nodeSecs, tt.vcpuSecs, tt.cost)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestShortNode(t *testing.T) {
	for _, tt := range []struct {
		node localcluster.Node
		want string
	}{
		{localcluster.Node{Name: "kwok-default-7xvsj-chatterbuttercup-1-dwvhd8ohue-2988298259", NodePool: "default"}, "kwok-default-7xvsj"},
		{localcluster.Node{Name: "kwok-spot-pool-ab1cd-x-1", NodePool: "spot-pool"}, "kwok-spot-pool-ab1cd"},
		{localcluster.Node{Name: "zone-a-spot-0"}, "zone-a-spot-0"},
	} {
		if got := ShortNode(tt.node); got != tt.want {
			t.Errorf("ShortNode(%s) = %s, want %s", tt.node.Name, got, tt.want)
		}
	}
}
