package autoscaled

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// Rounds maps each NodeClaim Karpenter created to its provisioning round:
// one reconcile of Karpenter's provisioner, which takes the pending pods
// batched so far, computes the NodeClaims that fit them and creates them
// together. Karpenter logs each claim it creates ("created nodeclaim") with
// the reconcile's ID.
type Rounds map[string]string // NodeClaim name -> reconcileID

// ParseRounds reads Karpenter's JSON log.
func ParseRounds(lines *bufio.Scanner) (Rounds, error) {
	r := Rounds{}
	for lines.Scan() {
		line := lines.Bytes()
		if !strings.Contains(string(line), `"created nodeclaim"`) {
			continue
		}
		var e struct {
			Message     string `json:"message"`
			ReconcileID string `json:"reconcileID"`
			NodeClaim   struct {
				Name string `json:"name"`
			} `json:"NodeClaim"`
		}
		if err := json.Unmarshal(line, &e); err != nil || e.Message != "created nodeclaim" || e.NodeClaim.Name == "" {
			continue
		}
		r[e.NodeClaim.Name] = e.ReconcileID
	}
	return r, lines.Err()
}

// ReadRounds reads Karpenter's log file.
func ReadRounds(path string) (Rounds, error) {
	f, err := os.Open(path)
	if err != nil {
		return Rounds{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	r, err := ParseRounds(sc)
	if err != nil {
		return r, fmt.Errorf("reading %s: %w", path, err)
	}
	return r, nil
}

// Count is the number of distinct rounds that launched the given nodes
// (node names, repeats allowed). The KWOK provider names a node
// "kwok-<NodeClaim>-<random>"; a launched node whose claim is not in the
// log counts as a round of its own, a node Karpenter did not launch as none.
func (r Rounds) Count(nodeNames []string, nodes map[string]localcluster.Node) int {
	seen := map[string]bool{}
	for _, name := range nodeNames {
		n, ok := nodes[name]
		if !ok || n.InstanceType == "" {
			continue
		}
		key := "node:" + name
		for claim, id := range r {
			if strings.HasPrefix(name, "kwok-"+claim+"-") {
				key = "round:" + id
				break
			}
		}
		seen[key] = true
	}
	return len(seen)
}
