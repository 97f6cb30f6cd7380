package gang

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkFit places a 10-executor gang on 5000 nodes in 3 zones, half of
// them on-demand, with random usage: every on-demand node with room is a
// driver candidate, so this is the worst case of the candidate loop.
// Run: go test ./pkg/gang -run XXX -bench Fit -benchmem
func BenchmarkFit(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	var nodes []Node
	for i := range 5000 {
		ct := od
		if i%2 == 1 {
			ct = spot
		}
		n := node(fmt.Sprintf("n%d", i), fmt.Sprintf("zone-%d", i%3), ct, 16, 64)
		n.Requested = Resources{int64(rng.IntN(16000)), int64(rng.IntN(64)) * gi}
		nodes = append(nodes, n)
	}
	snap := Snapshot{Nodes: nodes}
	shape := shapeOf(10)
	b.ReportAllocs()
	for b.Loop() {
		if p, r := Fit(snap, shape, policy()); !p.Fits() {
			b.Fatal(r)
		}
	}
}
