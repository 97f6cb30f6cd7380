package autoscaled

import (
	"bufio"
	"strings"
	"testing"

	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// Lines as Karpenter v1.15.0 writes them (trimmed).
const karpenterLog = `{"level":"INFO","message":"found provisionable pod(s)","controller":"provisioner","reconcileID":"r1","Pods":"a/drv, b/drv"}
{"level":"INFO","message":"created nodeclaim","controller":"provisioner","reconcileID":"r1","NodePool":{"name":"default"},"NodeClaim":{"name":"default-aaaaa"}}
{"level":"INFO","message":"created nodeclaim","controller":"provisioner","reconcileID":"r1","NodePool":{"name":"default"},"NodeClaim":{"name":"default-bbbbb"}}
{"level":"INFO","message":"launched nodeclaim","controller":"nodeclaim.lifecycle","reconcileID":"x","NodeClaim":{"name":"default-aaaaa"}}
not json "created nodeclaim"
{"level":"INFO","message":"created nodeclaim","controller":"provisioner","reconcileID":"r2","NodePool":{"name":"default"},"NodeClaim":{"name":"default-ccccc"}}
`

func TestRoundsCount(t *testing.T) {
	r, err := ParseRounds(bufio.NewScanner(strings.NewReader(karpenterLog)))
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]localcluster.Node{}
	for _, n := range []string{"kwok-default-aaaaa-x-1", "kwok-default-bbbbb-y-2", "kwok-default-ccccc-z-3", "kwok-default-ddddd-w-4"} {
		nodes[n] = localcluster.Node{Name: n, InstanceType: "c5.large"}
	}
	nodes["zone-a-spot-0"] = localcluster.Node{Name: "zone-a-spot-0"} // static
	for _, tt := range []struct {
		name  string
		nodes []string
		want  int
	}{
		{"two claims of one round", []string{"kwok-default-aaaaa-x-1", "kwok-default-bbbbb-y-2", "kwok-default-aaaaa-x-1"}, 1},
		{"two rounds", []string{"kwok-default-aaaaa-x-1", "kwok-default-ccccc-z-3"}, 2},
		{"a claim not in the log is a round of its own", []string{"kwok-default-ddddd-w-4", "kwok-default-ccccc-z-3"}, 2},
		{"static and unknown nodes are none", []string{"zone-a-spot-0", "gone"}, 0},
	} {
		if got := r.Count(tt.nodes, nodes); got != tt.want {
			t.Errorf("%s: Count = %d, want %d", tt.name, got, tt.want)
		}
	}
}
