package gang

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

var slot = Resources{1000, 1408 * mi}

func twoNodes() Snapshot {
	return Snapshot{Nodes: []Node{node("n1", "zone-a", spot, 4, 16), node("n2", "zone-a", spot, 4, 16)}}
}

func requested(s Snapshot, name string) Resources {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n.Requested
		}
	}
	return Resources{-1, -1}
}

func TestReserveIsAllOrNothing(t *testing.T) {
	snap := twoNodes()
	l := NewLedger()
	a := Reservation{App: "ns/a", Zone: "zone-a", Slot: slot, Nodes: map[string]int{"n1": 2, "n2": 2}, Expires: t0}
	if err := l.Reserve(snap, a); err != nil {
		t.Fatal(err)
	}
	if got := requested(l.Apply(snap, ""), "n1"); got != slot.Times(2) {
		t.Errorf("n1 requested %v after applying the ledger", got)
	}
	if got := requested(l.Apply(snap, "ns/a"), "n1"); !got.IsZero() {
		t.Errorf("an app's own slots must not count for it: %v", got)
	}
	if got := requested(snap, "n1"); !got.IsZero() {
		t.Errorf("Apply modified the snapshot: %v", got)
	}

	tests := []struct {
		name string
		r    Reservation
		err  string
	}{
		{"second node short: nothing is held", Reservation{App: "ns/b", Slot: slot, Nodes: map[string]int{"n1": 2, "n2": 3}, Expires: t0},
			"cannot reserve for app ns/b: node n2 has room for 2 of 3 executor slots (1 cpu, 1408Mi each) beside what is already held"},
		{"already held", Reservation{App: "ns/a", Slot: slot, Nodes: map[string]int{"n1": 1}, Expires: t0}, "app ns/a already holds a reservation"},
		{"unknown node", Reservation{App: "ns/c", Slot: slot, Nodes: map[string]int{"n9": 1}, Expires: t0}, "node n9 is not in the snapshot"},
		{"no expiry", Reservation{App: "ns/c", Slot: slot, Nodes: map[string]int{"n1": 1}}, "has no expiry"},
		{"zero slots", Reservation{App: "ns/c", Slot: slot, Nodes: map[string]int{"n1": 0}, Expires: t0}, "node n1: 0 slots"},
		{"no app", Reservation{Slot: slot, Nodes: map[string]int{"n1": 1}, Expires: t0}, "reservation without an app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := l.All()
			err := l.Reserve(snap, tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if !reflect.DeepEqual(before, l.All()) {
				t.Errorf("a failed Reserve changed the ledger")
			}
		})
	}
	if err := l.Reserve(snap, Reservation{App: "ns/b", Slot: slot, Nodes: map[string]int{"n1": 2, "n2": 2}, Expires: t0}); err != nil {
		t.Errorf("room left for b: %v", err)
	}
	if err := l.Reserve(snap, Reservation{App: "ns/c", Slot: Resources{1, 1}, Nodes: map[string]int{"n1": 1}, Expires: t0}); err == nil {
		t.Error("reserved on a node the ledger holds in full")
	}
	if err := l.Reserve(snap, Reservation{App: "ns/d", Slot: slot, Nodes: map[string]int{}, Expires: t0}); err != nil {
		t.Errorf("an empty gang: %v", err)
	}
	if _, ok := l.Get("ns/d"); ok {
		t.Error("an empty gang holds nothing")
	}
}

func TestHeldPerNode(t *testing.T) {
	snap := twoNodes()
	l := NewLedger()
	big := Resources{2000, 2048 * mi}
	for _, r := range []Reservation{
		{App: "ns/a", Slot: slot, Nodes: map[string]int{"n1": 2, "n2": 1}, Expires: t0},
		{App: "ns/b", Slot: big, Nodes: map[string]int{"n2": 1}, Expires: t0},
	} {
		if err := l.Reserve(snap, r); err != nil {
			t.Fatal(err)
		}
	}
	l.Consume("ns/a", "e1", "n2")
	tests := []struct {
		except AppKey
		want   map[string]NodeHold
	}{
		{"", map[string]NodeHold{"n1": {2, slot.Times(2)}, "n2": {1, big}}},
		{"ns/a", map[string]NodeHold{"n2": {1, big}}},
		{"ns/b", map[string]NodeHold{"n1": {2, slot.Times(2)}}},
	}
	for _, tc := range tests {
		got := l.HeldPerNode(tc.except)
		// A node an app has no slot left on may show with zero: the same.
		maps.DeleteFunc(got, func(_ string, h NodeHold) bool { return h.Slots == 0 })
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("HeldPerNode(%q) = %v, want %v", tc.except, got, tc.want)
		}
	}
}

func TestConsume(t *testing.T) {
	type step struct {
		executor, node string
		took, complete bool
		remaining      map[string]int
	}
	tests := []struct {
		name  string
		nodes map[string]int
		steps []step
	}{
		{
			name:  "own node first, then the node with most slots left, idempotent, best effort beyond",
			nodes: map[string]int{"n1": 2, "n2": 1},
			steps: []step{
				{"e1", "n2", true, false, map[string]int{"n1": 2}},
				{"e1", "n2", true, false, map[string]int{"n1": 2}},
				{"e2", "n9", true, false, map[string]int{"n1": 1}},
				{"e3", "n1", true, true, nil},
				{"e4", "n1", false, false, nil},
			},
		},
		{
			name:  "an executor elsewhere takes the free slot last in name order",
			nodes: map[string]int{"n1": 1, "n2": 1, "n3": 1},
			steps: []step{
				{"e1", "n9", true, false, map[string]int{"n1": 1, "n2": 1}},
				{"e2", "n1", true, false, map[string]int{"n2": 1}},
			},
		},
		{
			// The room an executor fills is the room held for it: had e3
			// moved e2's slot from n3 to n2 instead, n3 would count e3 and
			// a slot held for it at once (seen as a false "no room" on n3).
			name:  "an executor on a node with a slot left takes that slot and moves no other",
			nodes: map[string]int{"n2": 2, "n3": 2},
			steps: []step{
				{"e1", "n2", true, false, map[string]int{"n2": 1, "n3": 2}},
				{"e2", "n9", true, false, map[string]int{"n2": 1, "n3": 1}},
				{"e3", "n3", true, false, map[string]int{"n2": 1}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			snap := Snapshot{Nodes: []Node{node("n1", "z", spot, 8, 32), node("n2", "z", spot, 8, 32), node("n3", "z", spot, 8, 32)}}
			if err := l.Reserve(snap, Reservation{App: "ns/a", Slot: slot, Nodes: tc.nodes, Expires: t0}); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				took, complete := l.Consume("ns/a", s.executor, s.node)
				if took != s.took || complete != s.complete {
					t.Errorf("%s on %s: took %v complete %v, want %v %v", s.executor, s.node, took, complete, s.took, s.complete)
				}
				h, ok := l.Get("ns/a")
				if ok != (s.remaining != nil) || (ok && !reflect.DeepEqual(h.Remaining, s.remaining)) {
					t.Errorf("after %s: held %v remaining %v, want %v", s.executor, ok, h.Remaining, s.remaining)
				}
			}
		})
	}
}

func TestRemainingIgnoresArrivalOrder(t *testing.T) {
	slots := map[string]int{"n1": 1, "n2": 2, "n3": 3}
	executors := map[string]string{"a": "n9", "b": "n2", "c": "n2", "d": "n2", "e": "n8"}
	want := remaining(slots, executors)
	if !reflect.DeepEqual(want, map[string]int{"n1": 1}) {
		t.Errorf("remaining %v", want)
	}
	// Live consumption in every order ends where the set-based view does.
	names := []string{"a", "b", "c", "d", "e"}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 50 {
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		l := NewLedger()
		snap := Snapshot{Nodes: []Node{node("n1", "z", spot, 8, 32), node("n2", "z", spot, 8, 32), node("n3", "z", spot, 8, 32)}}
		if err := l.Reserve(snap, Reservation{App: "ns/a", Slot: slot, Nodes: slots, Expires: t0}); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			l.Consume("ns/a", n, executors[n])
		}
		if h, _ := l.Get("ns/a"); !reflect.DeepEqual(h.Remaining, want) {
			t.Fatalf("order %v: remaining %v, want %v", names, h.Remaining, want)
		}
	}
}

func TestExpire(t *testing.T) {
	l := NewLedger()
	snap := twoNodes()
	for i, app := range []AppKey{"ns/a", "ns/b"} {
		if err := l.Reserve(snap, Reservation{App: app, Slot: slot, Nodes: map[string]int{"n1": 1}, Expires: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Expire(t0.Add(-time.Second)); len(got) != 0 {
		t.Errorf("expired early: %v", got)
	}
	if got := l.Expire(t0); len(got) != 1 || got[0].App != "ns/a" {
		t.Errorf("expired %v", got)
	}
	if got := l.Expire(t0.Add(time.Hour)); len(got) != 1 || got[0].App != "ns/b" {
		t.Errorf("expired %v", got)
	}
	if len(l.All()) != 0 || !l.Apply(snap, "").Nodes[0].Requested.IsZero() {
		t.Error("expired room still held")
	}
	if l.Release("ns/a") {
		t.Error("released a reservation that had expired")
	}
}

// TestLedgerNeverDoubleBooks drives a random sequence of apps arriving
// (Fit on the ledger's view, bind the driver, Reserve), executors binding
// and consuming, apps ending, reservations expiring and conflicting
// reservations, and checks after every step that the bound pods plus every
// held slot fit every node.
func TestLedgerNeverDoubleBooks(t *testing.T) {
	var nodes []Node
	for i := range 8 {
		zone, ct := fmt.Sprintf("zone-%c", 'a'+i%2), spot
		if i%4 < 2 {
			ct = od
		}
		nodes = append(nodes, node(fmt.Sprintf("n%d", i), zone, ct, 8, 32, maxPods(12)))
	}
	real := Snapshot{Nodes: nodes}
	index := map[string]int{}
	for i, n := range nodes {
		index[n.Name] = i
	}
	bind := func(name string, r Resources, sign int) {
		n := &real.Nodes[index[name]]
		n.Requested = n.Requested.Add(r.Times(sign))
		n.Pods += sign
	}
	type pod struct {
		node string
		req  Resources
	}
	pods := map[AppKey][]pod{}
	l := NewLedger()
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	pol := policy()
	reserved, consumed, rejected, failed := 0, 0, 0, 0
	type binding struct {
		app  AppKey
		name string
		pod  pod
	}
	var inflight []binding

	for step := range 3000 {
		switch rng.IntN(6) {
		case 0: // an app arrives
			app := AppKey(fmt.Sprintf("ns/app-%d", step))
			shape := Shape{
				Driver:       Resources{int64(500 + rng.IntN(4)*500), int64(1+rng.IntN(4)) * gi},
				Executor:     Resources{int64(500 + rng.IntN(4)*500), int64(1+rng.IntN(6)) * gi / 2},
				MinExecutors: rng.IntN(6),
			}
			p, _ := Fit(l.Apply(real, ""), shape, pol)
			if !p.Fits() {
				continue
			}
			bind(p.DriverNode, shape.Driver, 1)
			pods[app] = append(pods[app], pod{p.DriverNode, shape.Driver})
			if err := l.Reserve(real, p.Reservation(app, now.Add(time.Duration(10+rng.IntN(120))*time.Second))); err != nil {
				t.Fatalf("step %d: Fit's placement could not be reserved: %v", step, err)
			}
			reserved++
		case 1, 2: // an executor of an app with a reservation binds
			all := l.All()
			if len(all) == 0 {
				continue
			}
			h := all[rng.IntN(len(all))]
			view := l.Apply(real, h.App)
			var target string
			if rng.IntN(3) > 0 {
				if names := slices.Sorted(maps.Keys(h.Remaining)); len(names) > 0 {
					target = names[rng.IntN(len(names))]
				}
			} else {
				for _, i := range rng.Perm(len(view.Nodes)) {
					if view.Nodes[i].fits(h.Slot) {
						target = view.Nodes[i].Name
						break
					}
				}
			}
			if target == "" {
				continue
			}
			if n := view.Nodes[index[target]]; !n.fits(h.Slot) {
				t.Fatalf("step %d: app %s's own slot on %s does not fit its executor", step, h.App, target)
			}
			// The scheduler assumes the executor (the node counts it at
			// once) and takes its slot in Reserve; the binding ends later
			// and may fail.
			bind(target, h.Slot, 1)
			name := fmt.Sprintf("exec-%d", step)
			l.Consume(h.App, name, target)
			consumed++
			inflight = append(inflight, binding{h.App, name, pod{target, h.Slot}})
		case 5: // a binding ends
			if len(inflight) == 0 {
				continue
			}
			i := rng.IntN(len(inflight))
			b := inflight[i]
			inflight = slices.Delete(inflight, i, i+1)
			if _, alive := pods[b.app]; !alive {
				bind(b.pod.node, b.pod.req, -1) // the app ended meanwhile
				continue
			}
			if rng.IntN(6) == 0 {
				// The binding failed: the pod leaves the node and its
				// slot stays spent (its room may be promised by now).
				bind(b.pod.node, b.pod.req, -1)
				failed++
				continue
			}
			pods[b.app] = append(pods[b.app], b.pod)
			l.Consume(b.app, b.name, b.pod.node) // PostBind: already taken
		case 3: // time passes; an app may end
			now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
			l.Expire(now)
			for _, app := range slices.Sorted(maps.Keys(pods)) {
				ps := pods[app]
				if rng.IntN(10) == 0 {
					for _, p := range ps {
						bind(p.node, p.req, -1)
					}
					delete(pods, app)
					l.Release(app)
				}
				break
			}
		case 4: // someone tries to reserve at random
			r := Reservation{App: AppKey(fmt.Sprintf("ns/rogue-%d", step)), Slot: Resources{1000, gi}, Nodes: map[string]int{}, Expires: now.Add(time.Minute)}
			for range 1 + rng.IntN(3) {
				r.Nodes[nodes[rng.IntN(len(nodes))].Name] += 1 + rng.IntN(4)
			}
			before := l.All()
			if err := l.Reserve(real, r); err != nil {
				rejected++
				if !reflect.DeepEqual(before, l.All()) {
					t.Fatalf("step %d: a failed Reserve changed the ledger", step)
				}
			}
		}
		for _, n := range l.Apply(real, "").Nodes {
			if !n.Requested.FitsIn(n.Allocatable) || n.Pods > n.MaxPods {
				t.Fatalf("step %d: node %s is double-booked: %v requested (%d pods) of %v", step, n.Name, n.Requested, n.Pods, n.Allocatable)
			}
		}
	}
	if reserved < 50 || consumed < 50 || rejected < 50 || failed < 5 {
		t.Errorf("the sequence did not exercise enough: %d reserved, %d consumed, %d rejected, %d failed bindings", reserved, consumed, rejected, failed)
	}
}

func sparkPod(role, app, name, node string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"spark-role": role, "spark-app-selector": app}},
		Spec:       corev1.PodSpec{NodeName: node},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func TestRebuildEqualsLiveLedger(t *testing.T) {
	var nodes []Node
	for i := range 6 {
		nodes = append(nodes, node(fmt.Sprintf("n%d", i), "zone-a", spot, 8, 32))
	}
	snap := Snapshot{Nodes: nodes}
	pol := policy(func(p *Policy) { p.Driver.Mode, p.Executor.Mode = v1alpha1.ModeOff, v1alpha1.ModeOff })
	live := NewLedger()
	rng := rand.New(rand.NewPCG(3, 4))
	var drivers, executors []*corev1.Pod

	for a := range 6 {
		app := fmt.Sprintf("spark-%d", a)
		key := AppKey("ns/" + app)
		shape := Shape{Driver: Resources{500, gi}, Executor: Resources{1000, 2 * gi}, MinExecutors: 2 + a%3}
		p, reasons := Fit(live.Apply(snap, ""), shape, pol)
		if !p.Fits() {
			t.Fatalf("app %d: %s", a, reasons)
		}
		r := p.Reservation(key, t0.Add(time.Duration(a)*time.Minute+time.Duration(rng.IntN(1e9))))
		if err := live.Reserve(snap, r); err != nil {
			t.Fatal(err)
		}
		drivers = append(drivers, sparkPod("driver", app, app+"-driver", p.DriverNode, annotated(AnnotationGang, r.Encode())))
		// Some executors bind (some off their slots' nodes, some beyond the
		// minimum), some are still pending.
		for e := range rng.IntN(shape.MinExecutors + 2) {
			name, node := fmt.Sprintf("%s-exec-%d", app, e+1), nodes[rng.IntN(len(nodes))].Name
			if rng.IntN(4) == 0 {
				executors = append(executors, sparkPod("executor", app, name, ""))
				continue
			}
			executors = append(executors, sparkPod("executor", app, name, node))
			live.Consume(key, name, node)
		}
	}
	// A finished driver's and a corrupt annotation's reservations are not rebuilt.
	drivers = append(drivers,
		sparkPod("driver", "spark-done", "done-driver", "n0", annotated(AnnotationGang, "zone=;cpu=1;memory=1Gi;nodes=n0:1;expires=2030-01-01T00:00:00Z"),
			func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		sparkPod("driver", "spark-bad", "bad-driver", "n0", annotated(AnnotationGang, "zone=a;nodes=n0:x")),
		sparkPod("driver", "spark-plain", "plain-driver", "n0"),
	)

	for range 5 {
		rng.Shuffle(len(executors), func(i, j int) { executors[i], executors[j] = executors[j], executors[i] })
		rng.Shuffle(len(drivers), func(i, j int) { drivers[i], drivers[j] = drivers[j], drivers[i] })
		rebuilt, errs := Rebuild(drivers, executors)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "driver ns/bad-driver: annotation sparkplane.io/gang") {
			t.Errorf("errors %v", errs)
		}
		if !reflect.DeepEqual(rebuilt.All(), live.All()) {
			t.Fatalf("rebuilt\n%+v\nlive\n%+v", rebuilt.All(), live.All())
		}
	}
	if len(live.All()) == 0 {
		t.Error("every reservation completed; the test shows nothing")
	}
}

func TestEncodeDecode(t *testing.T) {
	r := Reservation{Zone: "zone-b", Slot: Resources{1000, 1408 * mi}, Nodes: map[string]int{"n2": 2, "n1": 2}, Expires: t0}
	const want = "zone=zone-b;cpu=1;memory=1408Mi;nodes=n1:2,n2:2;expires=2026-01-02T15:04:05Z"
	if got := r.Encode(); got != want {
		t.Fatalf("Encode = %q, want %q", got, want)
	}
	tests := []struct {
		in   string
		want Reservation
		err  string
	}{
		{in: want, want: r},
		{in: "expires=2026-01-02T16:04:05.9+01:00;nodes=n1:2,n2:2;memory=1476395008;cpu=1000m;zone=zone-b;future=x", want: r},
		{in: "zone=;cpu=500m;memory=0;nodes=;expires=2026-01-02T15:04:05Z", want: Reservation{Slot: Resources{500, 0}, Nodes: map[string]int{}, Expires: t0}},
		{in: "zone=zone-b;cpu=1;memory=1Gi;nodes=n1:2", err: "expires is missing"},
		{in: "zone=zone-b;cpu=1;memory=1Gi;nodes=n1:2;nodes=n2:1;expires=2026-01-02T15:04:05Z", err: "nodes given twice"},
		{in: "zone=zone-b;cpu=-1;memory=1Gi;nodes=n1:2;expires=2026-01-02T15:04:05Z", err: `cpu "-1"`},
		{in: "zone=zone-b;cpu=1;memory=1Gi;nodes=n1:0;expires=2026-01-02T15:04:05Z", err: `node n1: "0" is not a slot count`},
		{in: "zone=zone-b;cpu=1;memory=1Gi;nodes=N_1:1;expires=2026-01-02T15:04:05Z", err: `node name "N_1"`},
		{in: "zone=zone-b;cpu=1;memory=1Gi;nodes=n1:1,n1:1;expires=2026-01-02T15:04:05Z", err: "node n1 given twice"},
		{in: "zone=zone b;cpu=1;memory=1Gi;nodes=n1:1;expires=2026-01-02T15:04:05Z", err: `zone "zone b"`},
		{in: "zone=zone-b;cpu=1;memory=1Gi;nodes=n1:1;expires=tomorrow", err: "tomorrow"},
		{in: "zone-b", err: `"zone-b" is not key=value`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := DecodeReservation(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
