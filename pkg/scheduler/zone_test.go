package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// A pinned executor is offered only its zone's nodes; a zone without nodes
// is Unschedulable with the reason, not an empty offer.
func TestZoneNodes(t *testing.T) {
	p := &SparkGang{args: &SparkGangArgs{Placement: v1alpha1.Default()}}
	var nodes []fwk.NodeInfo
	for name, zone := range map[string]string{"a1": "zone-a", "a2": "zone-a", "b1": "zone-b", "x": ""} {
		ni := framework.NewNodeInfo()
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
		if zone != "" {
			n.Labels[corev1.LabelTopologyZone] = zone
		}
		ni.SetNode(n)
		nodes = append(nodes, ni)
	}
	res, st := p.zoneNodes("zone-a", nodes)
	if !st.IsSuccess() || res.AllNodes() || !res.NodeNames.Equal(sets.New("a1", "a2")) {
		t.Errorf("zone-a: %v %v, want exactly a1 and a2", res, st)
	}
	if res, st := p.zoneNodes("zone-c", nodes); st.Code() != fwk.Unschedulable || res != nil {
		t.Errorf("zone-c: %v %v, want Unschedulable", res, st)
	}
}
