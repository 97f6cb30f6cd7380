package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

const testZoneLabel = corev1.LabelTopologyZone

func zoneNode(name, zone string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"other": "x"}}}
	if zone != "" {
		n.Labels[testZoneLabel] = zone
	}
	return n
}

func nodeInfo(n *corev1.Node) fwk.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(n)
	return ni
}

// bruteZone is what the index must answer: every listed node with the label.
func bruteZone(label string, list []fwk.NodeInfo, zone string) sets.Set[string] {
	s := sets.New[string]()
	for _, ni := range list {
		if n := ni.Node(); n != nil && n.Labels[label] == zone {
			s.Insert(n.Name)
		}
	}
	return s
}

// A pinned executor is offered only its zone's nodes; a zone without nodes
// is Unschedulable with the reason, not an empty offer.
func TestZoneNodes(t *testing.T) {
	p := &SparkGang{args: &SparkGangArgs{Placement: v1alpha1.Default()}}
	nodes := []fwk.NodeInfo{nodeInfo(zoneNode("a1", "zone-a")), nodeInfo(zoneNode("b1", "zone-b")), nodeInfo(zoneNode("a2", "zone-a")), nodeInfo(zoneNode("x", ""))}
	res, st := p.zoneNodes("zone-a", nodes)
	if !st.IsSuccess() || res.AllNodes() || !res.NodeNames.Equal(sets.New("a1", "a2")) {
		t.Errorf("zone-a: %v %v, want exactly a1 and a2", res, st)
	}
	if res, st := p.zoneNodes("zone-c", nodes); st.Code() != fwk.Unschedulable || res != nil {
		t.Errorf("zone-c: %v %v, want Unschedulable", res, st)
	}
}

// The index answers as reading every node would, through each way the
// framework's node list changes between cycles.
func TestZoneIndexFollowsTheNodeList(t *testing.T) {
	a1, a2, b1 := nodeInfo(zoneNode("a1", "zone-a")), nodeInfo(zoneNode("a2", "zone-a")), nodeInfo(zoneNode("b1", "zone-b"))
	list := []fwk.NodeInfo{a1, b1, a2}
	steps := []struct {
		name   string
		change func()
		label  string
	}{
		{name: "first cycle", change: func() {}},
		{name: "nothing changed", change: func() {}},
		{name: "a node's status changed (new object, same zone)", change: func() { a1.SetNode(zoneNode("a1", "zone-a")) }},
		{name: "a node moved zone", change: func() { a2.SetNode(zoneNode("a2", "zone-b")) }},
		{name: "a node lost its zone label", change: func() { b1.SetNode(zoneNode("b1", "")) }},
		{name: "a node got its zone label back", change: func() { b1.SetNode(zoneNode("b1", "zone-c")) }},
		{name: "a node added", change: func() { list = append(list, nodeInfo(zoneNode("c1", "zone-c"))) }},
		{name: "a node removed", change: func() { list = []fwk.NodeInfo{list[0], list[2], list[3]} }},
		{name: "nodes reordered", change: func() { list[0], list[1] = list[1], list[0] }},
		{name: "same length, another node", change: func() { list[2] = nodeInfo(zoneNode("a3", "zone-a")) }},
		{name: "a listed node without its Node", change: func() { list = append(list, framework.NewNodeInfo()) }},
		{name: "the Node is back", change: func() { list[len(list)-1].SetNode(zoneNode("b2", "zone-b")) }},
		{name: "another zone label configured", change: func() {}, label: "other"},
	}
	var z zoneIndex
	for _, st := range steps {
		st.change()
		label := testZoneLabel
		if st.label != "" {
			label = st.label
		}
		for _, zone := range []string{"zone-a", "zone-b", "zone-c", "x", ""} {
			got, want := z.names(label, list, zone), bruteZone(label, list, zone)
			if !got.Equal(want) {
				t.Errorf("%s: zone %q: got %v, want %v", st.name, zone, sets.List(got), sets.List(want))
			}
		}
	}
}

// Random changes of every kind, checked against reading every node after
// each; the seed is in the failure message.
func TestZoneIndexRandomChanges(t *testing.T) {
	zones := []string{"zone-a", "zone-b", "zone-c", ""}
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		var list []fwk.NodeInfo
		next := 0
		newNode := func() *corev1.Node {
			next++
			return zoneNode(fmt.Sprintf("n%d", next), zones[rng.IntN(len(zones))])
		}
		for range 20 {
			list = append(list, nodeInfo(newNode()))
		}
		var z zoneIndex
		for step := range 60 {
			switch rng.IntN(6) {
			case 0: // a node changes, maybe zone
				ni := list[rng.IntN(len(list))]
				if n := ni.Node(); n != nil {
					ni.SetNode(zoneNode(n.Name, zones[rng.IntN(len(zones))]))
				}
			case 1:
				list = append(list, nodeInfo(newNode()))
			case 2:
				if len(list) > 1 {
					i := rng.IntN(len(list))
					list = append(list[:i:i], list[i+1:]...)
				}
			case 3:
				rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
			case 4:
				list[rng.IntN(len(list))] = nodeInfo(newNode())
			}
			for _, zone := range zones {
				if got, want := z.names(testZoneLabel, list, zone), bruteZone(testZoneLabel, list, zone); !got.Equal(want) {
					t.Fatalf("seed %d step %d zone %q: got %v, want %v", seed, step, zone, sets.List(got), sets.List(want))
				}
			}
		}
	}
}

// BenchmarkZoneNodes is the cost of restricting one pinned executor to its
// zone at 5,000 nodes: the index against reading every node's label.
func BenchmarkZoneNodes(b *testing.B) {
	var list []fwk.NodeInfo
	for i := range 5000 {
		list = append(list, nodeInfo(zoneNode(fmt.Sprintf("node-%05d", i), fmt.Sprintf("zone-%d", i%3))))
	}
	b.Run("index", func(b *testing.B) {
		var z zoneIndex
		for b.Loop() {
			if z.names(testZoneLabel, list, "zone-1").Len() == 0 {
				b.Fatal("empty")
			}
		}
	})
	b.Run("index, one node changed per cycle", func(b *testing.B) {
		var z zoneIndex
		i := 0
		for b.Loop() {
			i = (i + 1) % len(list)
			list[i].SetNode(list[i].Node().DeepCopy())
			if z.names(testZoneLabel, list, "zone-1").Len() == 0 {
				b.Fatal("empty")
			}
		}
	})
	b.Run("read every node", func(b *testing.B) {
		for b.Loop() {
			if bruteZone(testZoneLabel, list, "zone-1").Len() == 0 {
				b.Fatal("empty")
			}
		}
	})
}
