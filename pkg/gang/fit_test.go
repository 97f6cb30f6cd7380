package gang

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

const (
	od   = v1alpha1.CapacityOnDemand
	spot = v1alpha1.CapacitySpot
	gi   = 1 << 30
)

// node builds a node with cores and GiB allocatable, requesting nothing.
func node(name, zone string, ct v1alpha1.CapacityType, cores, memGi int64, mods ...func(*Node)) Node {
	n := Node{Name: name, Zone: zone, CapacityType: ct, Allocatable: Resources{cores * 1000, memGi * gi}}
	for _, m := range mods {
		m(&n)
	}
	return n
}

// used makes a node request milli cpu and mem bytes already.
func used(milli, mem int64) func(*Node) {
	return func(n *Node) { n.Requested = Resources{milli, mem}; n.Pods = 1 }
}

func empty(n *Node) { n.Empty = true }

func cordoned(n *Node) { n.NoDriver, n.NoExecutor = "cordoned", "cordoned" }

func maxPods(k int) func(*Node) { return func(n *Node) { n.MaxPods = k } }

// full leaves room for k executors of 1 cpu (memory plentiful).
func roomFor(k int64) func(*Node) {
	return func(n *Node) { n.Requested = Resources{n.Allocatable.MilliCPU - k*1000, 0}; n.Pods = 1 }
}

func policy(mods ...func(*Policy)) Policy {
	p := Policy{
		Zone:     v1alpha1.ModeRequired,
		Driver:   v1alpha1.CapacityRule{CapacityType: od, Mode: v1alpha1.ModeRequired},
		Executor: v1alpha1.CapacityRule{CapacityType: spot, Mode: v1alpha1.ModePreferred},
	}
	for _, m := range mods {
		m(&p)
	}
	return p
}

func spotRequired(p *Policy) { p.Executor.Mode = v1alpha1.ModeRequired }

func shapeOf(min int) Shape {
	return Shape{Driver: Resources{1000, 2 * gi}, Executor: Resources{1000, 1408 * mi}, MinExecutors: min, MaxExecutors: min}
}

func TestFit(t *testing.T) {
	tests := []struct {
		name      string
		nodes     []Node
		shape     Shape
		pol       Policy
		zone      string
		driver    string // "" when it must not fit
		executors []string
		reasons   []string
	}{
		{
			name: "zone B when zone A has on-demand room but no spot room (executors prefer spot)",
			nodes: []Node{
				node("a-od", "zone-a", od, 16, 64, used(1000, gi)),
				node("a-spot", "zone-a", spot, 4, 16, roomFor(0)),
				node("b-od", "zone-b", od, 8, 32, used(1000, gi)),
				node("b-spot", "zone-b", spot, 8, 32, used(1000, gi)),
			},
			shape: shapeOf(4), pol: policy(),
			zone: "zone-b", driver: "b-od", executors: []string{"b-spot", "b-spot", "b-spot", "b-spot"},
			reasons: []string{
				"the gang of driver (1 cpu, 2Gi) and 4 executor(s) (1 cpu, 1408Mi each) fits in zone-b: driver on on-demand node b-od; executors on b-spot x4 (spot)",
				"zone-a also fits, but 4 executor(s) would run off spot (vs 0)",
			},
		},
		{
			name: "zone B when zone A has no spot room (executors require spot)",
			nodes: []Node{
				node("a-od", "zone-a", od, 16, 64, used(1000, gi)),
				node("a-spot", "zone-a", spot, 4, 16, roomFor(1)),
				node("b-od", "zone-b", od, 8, 32, used(1000, gi)),
				node("b-spot", "zone-b", spot, 8, 32, used(1000, gi)),
			},
			shape: shapeOf(4), pol: policy(spotRequired),
			zone: "zone-b", driver: "b-od", executors: []string{"b-spot", "b-spot", "b-spot", "b-spot"},
			reasons: []string{"zone-a: spot has room for 1 of 4 executors (1 cpu, 1408Mi each)"},
		},
		{
			name: "executors fall back within the zone when spot is short",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(1000, gi)),
				node("a-spot", "zone-a", spot, 4, 16, roomFor(2)),
			},
			shape: shapeOf(4), pol: policy(),
			zone: "zone-a", driver: "a-od", executors: []string{"a-spot", "a-spot", "a-od", "a-od"},
			reasons: []string{"2 executor(s) off the preferred spot, which has no more room"},
		},
		{
			name: "no fallback when spot is required",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(1000, gi)),
				node("a-spot", "zone-a", spot, 4, 16, roomFor(2)),
			},
			shape: shapeOf(4), pol: policy(spotRequired),
			reasons: []string{
				"the gang of driver (1 cpu, 2Gi) and 4 executor(s) (1 cpu, 1408Mi each) fits nowhere",
				"zone-a: spot has room for 2 of 4 executors (1 cpu, 1408Mi each)",
			},
		},
		{
			name: "best packing: the fuller zone wins",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(1000, gi)),
				node("a-spot", "zone-a", spot, 16, 64, used(2000, 4*gi)),
				node("b-od", "zone-b", od, 8, 32, used(1000, gi)),
				node("b-spot", "zone-b", spot, 16, 64, used(8000, 32*gi)),
			},
			shape: shapeOf(4), pol: policy(),
			zone: "zone-b", driver: "b-od", executors: []string{"b-spot", "b-spot", "b-spot", "b-spot"},
			reasons: []string{"zone-a also fits, but it packs less tightly"},
		},
		{
			name: "empty nodes stay empty: a zone that needs none wins over a fuller one that opens a node",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(7000, 28*gi)),
				node("a-spot", "zone-a", spot, 16, 64, empty),
				node("b-od", "zone-b", od, 8, 32, used(1000, gi)),
				node("b-spot", "zone-b", spot, 16, 64, used(1000, gi)),
			},
			shape: shapeOf(4), pol: policy(),
			zone: "zone-b", driver: "b-od",
			reasons: []string{"zone-a also fits, but it would use 1 empty node(s) (vs 0)"},
		},
		{
			name: "within a zone the fullest node fills first",
			nodes: []Node{
				node("od", "zone-a", od, 8, 32, used(1000, gi)),
				node("s1", "zone-a", spot, 10, 40, used(3000, 12*gi)),
				node("s2", "zone-a", spot, 10, 40, used(8000, 28*gi)),
			},
			shape: shapeOf(4), pol: policy(),
			zone: "zone-a", driver: "od", executors: []string{"s2", "s2", "s1", "s1"},
		},
		{
			name: "among empty nodes the one taking the most executors first",
			nodes: []Node{
				node("od", "zone-a", od, 8, 32, used(1000, gi)),
				node("small", "zone-a", spot, 2, 8, empty),
				node("big", "zone-a", spot, 8, 32, empty),
			},
			shape: shapeOf(4), pol: policy(),
			zone: "zone-a", driver: "od", executors: []string{"big", "big", "big", "big"},
			reasons: []string{"uses 1 empty node(s)"},
		},
		{
			name: "the driver goes to the fullest on-demand node",
			nodes: []Node{
				node("od-1", "zone-a", od, 8, 32, used(1000, gi)),
				node("od-2", "zone-a", od, 8, 32, used(6000, 24*gi)),
				node("od-3", "zone-a", od, 8, 32, empty),
				node("sp", "zone-a", spot, 8, 32, used(1000, gi)),
			},
			shape: shapeOf(2), pol: policy(),
			zone: "zone-a", driver: "od-2", executors: []string{"sp", "sp"},
		},
		{
			name: "no room for the driver",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, roomFor(0)),
				node("a-spot", "zone-a", spot, 8, 32),
			},
			shape: shapeOf(4), pol: policy(),
			reasons: []string{"zone-a: no on-demand node has room for the driver (1 cpu, 2Gi); room for 4 of 4 executors (1 cpu, 1408Mi each): 4 on spot, 0 on other capacity"},
		},
		{
			name:  "driver and executors share a node when capacity types are off",
			nodes: []Node{node("n", "zone-a", spot, 4, 16, used(0, 0))},
			shape: shapeOf(3),
			pol: policy(func(p *Policy) {
				p.Driver.Mode, p.Executor.Mode = v1alpha1.ModeOff, v1alpha1.ModeOff
			}),
			zone: "zone-a", driver: "n", executors: []string{"n", "n", "n"},
		},
		{
			name:  "one executor too many for a shared node",
			nodes: []Node{node("n", "zone-a", spot, 4, 16, used(0, 0))},
			shape: shapeOf(4),
			pol: policy(func(p *Policy) {
				p.Driver.Mode, p.Executor.Mode = v1alpha1.ModeOff, v1alpha1.ModeOff
			}),
			reasons: []string{"zone-a: room for 3 of 4 executors (1 cpu, 1408Mi each)"},
		},
		{
			name: "cordoned nodes and pod limits count",
			nodes: []Node{
				node("od", "zone-a", od, 8, 32, used(1000, gi)),
				node("s1", "zone-a", spot, 8, 32, cordoned),
				node("s2", "zone-a", spot, 8, 32, used(1000, gi), maxPods(3)),
			},
			shape: shapeOf(4), pol: policy(spotRequired),
			reasons: []string{"zone-a: spot has room for 2 of 4 executors"},
		},
		{
			name: "no spot node at all",
			nodes: []Node{
				node("od", "zone-a", od, 8, 32, used(1000, gi)),
			},
			shape: shapeOf(1), pol: policy(spotRequired),
			reasons: []string{"zone-a: no spot node can take executors"},
		},
		{
			name: "a gang of the driver alone",
			nodes: []Node{
				node("od", "zone-a", od, 8, 32, used(1000, gi)),
			},
			shape: shapeOf(0), pol: policy(spotRequired),
			zone: "zone-a", driver: "od",
		},
		{
			name: "nodes without a zone label are a zone of their own",
			nodes: []Node{
				node("od", "", od, 8, 32, used(1000, gi)),
				node("sp", "", spot, 8, 32, used(1000, gi)),
				node("a-sp", "zone-a", spot, 8, 32, used(1000, gi)),
			},
			shape: shapeOf(2), pol: policy(spotRequired),
			zone: "", driver: "od", executors: []string{"sp", "sp"},
			reasons: []string{"fits in nodes without a zone label", "zone-a: no on-demand node has room for the driver"},
		},
		{
			name: "zone pinning preferred: spread across zones when no single zone has room",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(1000, gi)),
				node("a-spot", "zone-a", spot, 8, 32, roomFor(2)),
				node("b-spot", "zone-b", spot, 8, 32, roomFor(3)),
			},
			shape: shapeOf(4), pol: policy(spotRequired, func(p *Policy) { p.Zone = v1alpha1.ModePreferred }),
			zone: "zone-a", driver: "a-od", executors: []string{"a-spot", "a-spot", "b-spot", "b-spot"},
			reasons: []string{"fits across zones (driver in zone-a): driver on on-demand node a-od; executors on a-spot x2 (spot, zone-a), b-spot x2 (spot, zone-b)"},
		},
		{
			name: "zone pinning required: no spreading",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(1000, gi)),
				node("a-spot", "zone-a", spot, 8, 32, roomFor(2)),
				node("b-spot", "zone-b", spot, 8, 32, roomFor(3)),
			},
			shape: shapeOf(4), pol: policy(spotRequired),
			reasons: []string{"zone-a: spot has room for 2 of 4 executors", "zone-b: no on-demand node has room for the driver"},
		},
		{
			name: "zone pinning off: the cluster is one pool",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(1000, gi)),
				node("b-spot", "zone-b", spot, 8, 32, used(1000, gi)),
			},
			shape: shapeOf(2), pol: policy(func(p *Policy) { p.Zone = v1alpha1.ModeOff }),
			zone: "zone-a", driver: "a-od", executors: []string{"b-spot", "b-spot"},
			reasons: []string{"fits in the cluster (driver in zone-a)"},
		},
		{
			name: "a pinned driver node decides the zone",
			nodes: []Node{
				node("a-od", "zone-a", od, 8, 32, used(1000, gi)),
				node("a-spot", "zone-a", spot, 8, 32, used(1000, gi)),
				node("b-od", "zone-b", od, 8, 32, used(7000, gi)),
				node("b-spot", "zone-b", spot, 8, 32, used(7000, gi)),
			},
			shape: shapeOf(2), pol: policy(func(p *Policy) { p.DriverNode = "a-od" }),
			zone: "zone-a", driver: "a-od", executors: []string{"a-spot", "a-spot"},
		},
		{
			name:  "a pinned driver node without room",
			nodes: []Node{node("a-od", "zone-a", od, 8, 32, roomFor(0)), node("a-spot", "zone-a", spot, 8, 32)},
			shape: shapeOf(2), pol: policy(func(p *Policy) { p.DriverNode = "a-od" }),
			reasons: []string{"zone-a: node a-od has 0 cpu, 32Gi free, not enough for the driver (1 cpu, 2Gi)"},
		},
		{
			name:  "a pinned driver node that is gone",
			nodes: []Node{node("a-od", "zone-a", od, 8, 32)},
			shape: shapeOf(2), pol: policy(func(p *Policy) { p.DriverNode = "gone" }),
			reasons: []string{"node gone is not in the snapshot"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap := Snapshot{Nodes: tc.nodes}
			before := snap.clone()
			p, reasons := Fit(snap, tc.shape, tc.pol)
			if !reflect.DeepEqual(before, snap) {
				t.Fatal("Fit modified its snapshot")
			}
			if p.Fits() != (tc.driver != "") {
				t.Fatalf("fits = %v, want %v; reasons: %s", p.Fits(), tc.driver != "", reasons)
			}
			if p.Fits() {
				if p.Zone != tc.zone || p.DriverNode != tc.driver {
					t.Errorf("zone %q driver %q, want %q %q; reasons: %s", p.Zone, p.DriverNode, tc.zone, tc.driver, reasons)
				}
				if tc.executors != nil && !reflect.DeepEqual(p.Executors, tc.executors) {
					t.Errorf("executors %v, want %v", p.Executors, tc.executors)
				}
				if len(p.Executors) != tc.shape.MinExecutors || p.DriverCandidates[0] != p.DriverNode || p.Slot != tc.shape.Executor {
					t.Errorf("placement %+v", p)
				}
				verifyPlacement(t, snap, tc.shape, p)
			} else if p.DriverNode != "" || p.Executors != nil || p.DriverCandidates != nil {
				t.Errorf("no fit, but placement %+v", p)
			}
			for _, r := range tc.reasons {
				if !strings.Contains(reasons.String(), r) {
					t.Errorf("reasons %q\nlack %q", reasons, r)
				}
			}
		})
	}
}

// verifyPlacement checks the gang really fits where Fit put it.
func verifyPlacement(t *testing.T, snap Snapshot, shape Shape, p Placement) {
	t.Helper()
	st := statement{nodes: snap.clone().Nodes}
	index := map[string]int{}
	for i, n := range st.nodes {
		index[n.Name] = i
	}
	if !st.allocate(index[p.DriverNode], shape.Driver) {
		t.Errorf("driver does not fit on %s", p.DriverNode)
	}
	for _, n := range p.Executors {
		if !st.allocate(index[n], shape.Executor) {
			t.Errorf("executor does not fit on %s", n)
		}
	}
}

func TestFitDriverCandidates(t *testing.T) {
	snap := Snapshot{Nodes: []Node{
		node("a-od-1", "zone-a", od, 8, 32, used(1000, gi)),
		node("a-od-2", "zone-a", od, 8, 32, used(4000, 16*gi)),
		node("a-spot", "zone-a", spot, 8, 32, used(1000, gi)),
		node("b-od", "zone-b", od, 8, 32, used(1000, gi)),
		node("b-spot", "zone-b", spot, 8, 32, roomFor(1)),
		node("c-od", "zone-c", od, 8, 32, roomFor(0)),
	}}
	p, _ := Fit(snap, shapeOf(2), policy())
	// zone-b needs an executor off spot, so its driver node ranks last.
	want := []string{"a-od-2", "a-od-1", "b-od"}
	if !reflect.DeepEqual(p.DriverCandidates, want) {
		t.Errorf("candidates %v, want %v", p.DriverCandidates, want)
	}
	// Once the framework picks another candidate, Fit with it pinned says
	// where the executors go.
	p2, _ := Fit(snap, shapeOf(2), policy(func(pol *Policy) { pol.DriverNode = "b-od" }))
	if p2.Zone != "zone-b" || !reflect.DeepEqual(p2.Executors, []string{"b-spot", "b-od"}) {
		t.Errorf("pinned placement %+v", p2)
	}
}
