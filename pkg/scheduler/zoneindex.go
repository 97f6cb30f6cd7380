package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"
)

// zoneIndex keeps, per zone, the names of the scheduler snapshot's nodes
// in that zone, so that restricting a pinned executor to its zone does not
// read every node's labels in every scheduling cycle: at 5,000 nodes those
// lookups were three quarters of an executor's scheduling cycle.
//
// The framework's node list keeps its order from cycle to cycle, and a
// changed Node (labels or status) is a new *corev1.Node in it, so one
// pointer comparison per node tells which labels to read again. A node
// added, removed or reordered rebuilds the index. Filter still checks each
// offered node's zone, so even a stale index could only hide a node, never
// place an executor outside its driver's zone.
type zoneIndex struct {
	label  string
	nodes  []*corev1.Node // as last seen, in list order (nil where the list had none)
	zoneOf []string       // the zone label of nodes[i]
	zones  map[string]sets.Set[string]
}

// names returns the names of list's nodes whose label is zone, updating
// the index to list first. The set belongs to the index: callers must not
// change it, and it changes at the next call. (The framework copies a
// PreFilterResult's names when it merges the plugins' results.)
func (z *zoneIndex) names(label string, list []fwk.NodeInfo, zone string) sets.Set[string] {
	if label != z.label || len(list) != len(z.nodes) || !z.update(list) {
		z.rebuild(label, list)
	}
	return z.zones[zone]
}

// update brings the index to list, whose length matches; false means the
// list differs in which nodes it holds or their order, and needs a rebuild.
func (z *zoneIndex) update(list []fwk.NodeInfo) bool {
	for i, ni := range list {
		n, old := ni.Node(), z.nodes[i]
		if n == old {
			continue
		}
		if n == nil || old == nil || n.Name != old.Name {
			return false
		}
		z.nodes[i] = n
		if zone := n.Labels[z.label]; zone != z.zoneOf[i] {
			z.zones[z.zoneOf[i]].Delete(n.Name)
			z.add(zone, n.Name)
			z.zoneOf[i] = zone
		}
	}
	return true
}

func (z *zoneIndex) rebuild(label string, list []fwk.NodeInfo) {
	z.label = label
	z.nodes = make([]*corev1.Node, len(list))
	z.zoneOf = make([]string, len(list))
	z.zones = map[string]sets.Set[string]{}
	for i, ni := range list {
		n := ni.Node()
		if n == nil {
			continue
		}
		z.nodes[i] = n
		z.zoneOf[i] = n.Labels[label]
		z.add(z.zoneOf[i], n.Name)
	}
}

func (z *zoneIndex) add(zone, name string) {
	s, ok := z.zones[zone]
	if !ok {
		s = sets.New[string]()
		z.zones[zone] = s
	}
	s.Insert(name)
}
