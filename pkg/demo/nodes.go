package demo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
)

// NodeUsage is what a set of launched nodes cost: their lives added up and
// priced at the generated catalog's hourly prices.
type NodeUsage struct {
	Nodes int
	// ByZone counts the nodes by zone and capacity type: "a/on-demand:1 a/spot:2".
	ByZone string
	// ByType counts them by instance type: "c5.large:2 c5.xlarge:1".
	ByType string
	// NodeSeconds adds up each node's life (creation to removal, or to now
	// for a node still up); VCPUSeconds weighs each by its vCPUs.
	NodeSeconds, VCPUSeconds float64
	// Cost is each node's life at its PricePerHour, in dollars.
	Cost float64
}

// Usage adds up nodes' lives and cost; a node still up counts until now.
// vCPUs come from catalog (a type not in it counts 0).
func Usage(nodes []localcluster.Node, catalog []karpenter.InstanceType, now time.Time) NodeUsage {
	cpus := map[string]float64{}
	for _, it := range catalog {
		if q, ok := it.Resources[corev1.ResourceCPU]; ok {
			cpus[it.Name] = q.AsApproximateFloat64()
		}
	}
	u := NodeUsage{Nodes: len(nodes)}
	zones, types := map[string]int{}, map[string]int{}
	for _, n := range nodes {
		end := n.Deleted
		if end.IsZero() {
			end = now
		}
		life := end.Sub(n.Created).Seconds()
		if life < 0 {
			life = 0
		}
		u.NodeSeconds += life
		u.VCPUSeconds += life * cpus[n.InstanceType]
		u.Cost += life / 3600 * n.PricePerHour
		zones[shortZone(n.Zone)+"/"+string(n.Capacity)]++
		types[n.InstanceType]++
	}
	u.ByZone, u.ByType = formatCounts(zones), formatCounts(types)
	return u
}

// Launched returns the nodes Karpenter launched (those with an instance
// type) created at or after from and before to (zero to: no end), oldest
// first.
func Launched(nodes []localcluster.Node, from, to time.Time) []localcluster.Node {
	var out []localcluster.Node
	for _, n := range nodes {
		if n.InstanceType == "" || n.Created.Before(from) || (!to.IsZero() && !n.Created.Before(to)) {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// NodeWatch prints a progress line for every node that appears on a
// cluster or goes away.
type NodeWatch struct {
	c      *localcluster.Cluster
	step   func(string, ...any)
	mu     sync.Mutex
	up     map[string]bool
	gone   map[string]bool
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// WatchNodes starts a NodeWatch on c; nodes already there are not announced.
func WatchNodes(c *localcluster.Cluster, step func(string, ...any)) *NodeWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &NodeWatch{c: c, step: step, up: map[string]bool{}, gone: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	for _, n := range c.AllNodes() {
		w.up[n.Name], w.gone[n.Name] = true, !n.Deleted.IsZero()
	}
	go func() {
		defer close(w.done)
		_ = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(context.Context) (bool, error) { w.Flush(); return false, nil })
	}()
	return w
}

// Flush prints what has changed since the last line.
func (w *NodeWatch) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	all := w.c.AllNodes()
	sort.Slice(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	live := 0
	for _, n := range all {
		if w.up[n.Name] && !w.gone[n.Name] {
			live++
		}
	}
	for _, n := range all {
		if !w.up[n.Name] {
			w.up[n.Name] = true
			live++
			w.step("node up:   %s  %s %s %s ($%.4f/h); %d node(s) up", ShortNode(n), n.Zone, n.Capacity, n.InstanceType, n.PricePerHour, live)
		}
		if !w.gone[n.Name] && !n.Deleted.IsZero() {
			w.gone[n.Name] = true
			live--
			w.step("node gone: %s  %s %s %s after %s; %d node(s) up", ShortNode(n), n.Zone, n.Capacity, n.InstanceType, n.Deleted.Sub(n.Created).Round(time.Second), live)
		}
	}
}

// Stop ends the watch after a last Flush; it may be called more than once.
func (w *NodeWatch) Stop() {
	w.once.Do(func() {
		w.cancel()
		<-w.done
		w.Flush()
	})
}

// ShortNode shortens the name the KWOK provider gives a node it launched
// from a NodePool, kwok-<pool>-<id>-<random>-<n>, to kwok-<pool>-<id>
// (the name of its NodeClaim after "kwok-"); other names stay as they are.
func ShortNode(n localcluster.Node) string {
	prefix := "kwok-" + n.NodePool + "-"
	if n.NodePool == "" || !strings.HasPrefix(n.Name, prefix) {
		return n.Name
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(n.Name, prefix), "-")
	return prefix + id
}

// WaitNoNodes waits until c has no node left (Karpenter removed every node
// it launched), printing how many are left now and then.
func WaitNoNodes(ctx context.Context, c *localcluster.Cluster, timeout time.Duration, step func(string, ...any)) error {
	n := len(c.Nodes())
	if n == 0 {
		return nil
	}
	step("waiting for Karpenter to remove the %d node(s) left (empty nodes go after consolidateAfter) ...", n)
	last := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		left := len(c.Nodes())
		if left > 0 && time.Since(last) > 30*time.Second {
			step("still %d node(s) up ...", left)
			last = time.Now()
		}
		return left == 0, nil
	})
	if err != nil {
		names := []string{}
		for _, n := range c.Nodes() {
			names = append(names, n.Name)
		}
		return fmt.Errorf("waiting for Karpenter to remove every node: still up after %s: %v (see its log %s): %w", timeout, names, c.KarpenterLog(), err)
	}
	return nil
}
