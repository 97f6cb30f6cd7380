package gang

import (
	"math"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// Node is what the gang decisions know about one node.
type Node struct {
	Name string
	// Zone is the node's zone label value, "" when it has none.
	Zone         string
	CapacityType v1alpha1.CapacityType
	Allocatable  Resources
	// Requested is what the pods bound or assumed on the node request; a
	// snapshot from Ledger.Apply adds the executor slots held there.
	Requested Resources
	// MaxPods is the node's allocatable pod count, 0 for no limit; Pods
	// counts pods (and held slots) on it.
	MaxPods, Pods int
	// Empty says no pods but DaemonSet pods run here, so an autoscaler could
	// remove the node: placing on it "opens" it, which packing avoids.
	Empty bool
	// NoDriver and NoExecutor say why that role may not run here apart from
	// resources (cordoned, a taint or selector its pods do not match), ""
	// when it may. The adapter fills them from what its filters know.
	NoDriver, NoExecutor string
}

// Free is what is left to request on the node.
func (n *Node) Free() Resources { return n.Allocatable.Sub(n.Requested) }

func (n *Node) fits(r Resources) bool {
	return n.Requested.Add(r).FitsIn(n.Allocatable) && (n.MaxPods == 0 || n.Pods < n.MaxPods)
}

// room is how many pods of size r still fit on the node.
func (n *Node) room(r Resources) int {
	k := math.MaxInt
	free := n.Free()
	if free.MilliCPU < 0 || free.Memory < 0 {
		return 0
	}
	if r.MilliCPU > 0 {
		k = min(k, int(free.MilliCPU/r.MilliCPU))
	}
	if r.Memory > 0 {
		k = min(k, int(free.Memory/r.Memory))
	}
	if n.MaxPods > 0 {
		k = min(k, max(n.MaxPods-n.Pods, 0))
	}
	return k
}

// utilization is kube-scheduler's MostAllocated score of the node, per
// mille: the mean of requested/allocatable over cpu and memory.
func (n *Node) utilization() int64 {
	var sum float64
	var k int64
	if n.Allocatable.MilliCPU > 0 {
		sum += float64(n.Requested.MilliCPU) / float64(n.Allocatable.MilliCPU)
		k++
	}
	if n.Allocatable.Memory > 0 {
		sum += float64(n.Requested.Memory) / float64(n.Allocatable.Memory)
		k++
	}
	if k == 0 {
		return 0
	}
	return int64(sum * 1000 / float64(k))
}

// Snapshot is the cluster as one decision sees it.
type Snapshot struct {
	Nodes []Node
}

func (s Snapshot) clone() Snapshot {
	return Snapshot{Nodes: append([]Node(nil), s.Nodes...)}
}

// NodeFromAPI fills what a Node object says: name, zone, capacity type,
// allocatable and cordoning. Requested, Pods and Empty come from the pods
// on the node, which the adapter's cache knows.
func NodeFromAPI(n *corev1.Node, cfg *v1alpha1.SparkplaneConfiguration) Node {
	out := Node{
		Name:         n.Name,
		Zone:         n.Labels[cfg.ZoneLabel],
		CapacityType: cfg.Provider.CapacityTypeOf(n.Labels),
		Allocatable:  fromList(n.Status.Allocatable),
	}
	if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
		out.MaxPods = int(q.Value())
	}
	if n.Spec.Unschedulable {
		out.NoDriver, out.NoExecutor = "cordoned", "cordoned"
	}
	return out
}

// statement is Volcano's all-or-nothing unit of allocation: tentative
// allocations on a working copy of the nodes that are discarded or kept as
// a whole, so a gang that does not fully fit leaves no trace.
type statement struct {
	nodes []Node
	ops   []allocation
}

type allocation struct {
	node     int
	req      Resources
	wasEmpty bool
}

// allocate places r on node i if it fits.
func (s *statement) allocate(i int, r Resources) bool {
	n := &s.nodes[i]
	if !n.fits(r) {
		return false
	}
	s.ops = append(s.ops, allocation{node: i, req: r, wasEmpty: n.Empty})
	n.Requested = n.Requested.Add(r)
	n.Pods++
	n.Empty = false
	return true
}

// discard undoes every allocation since the last commit or discard.
func (s *statement) discard() {
	for j := len(s.ops) - 1; j >= 0; j-- {
		op := s.ops[j]
		n := &s.nodes[op.node]
		n.Requested = n.Requested.Sub(op.req)
		n.Pods--
		n.Empty = op.wasEmpty
	}
	s.ops = s.ops[:0]
}

// commit keeps every allocation since the last commit or discard.
func (s *statement) commit() { s.ops = s.ops[:0] }
