package gang

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// Policy says how a gang is placed and queued.
type Policy struct {
	// Zone: required or preferred keep the whole gang in one zone
	// (preferred spreads it across zones when no single zone has room); off
	// ignores zones.
	Zone v1alpha1.Mode
	// Driver and Executor are each role's capacity type: required keeps the
	// role on it, preferred tries it first and falls back within the zone,
	// off takes any.
	Driver, Executor v1alpha1.CapacityRule
	// DriverNode, when set, fixes the driver's node: once the framework has
	// picked one of Placement.DriverCandidates, Fit with it says where the
	// executor slots go.
	DriverNode string
	// HeadOfLineWait is how long the oldest waiting app of a queue blocks
	// younger ones before they may pass it (see Admit); 0 keeps strict FIFO.
	HeadOfLineWait time.Duration
}

// PolicyFromConfig takes zone pinning and capacity rules from the webhook's
// configuration, so that the scheduler plans what the webhook enforces.
func PolicyFromConfig(cfg *v1alpha1.SparkplaneConfiguration) Policy {
	return Policy{Zone: cfg.ZonePinning.Mode, Driver: cfg.Driver, Executor: cfg.Executor}
}

// Placement is where a gang goes. The zero Placement means it fits nowhere.
type Placement struct {
	// Zone is the driver's zone, which the executors follow.
	Zone       string
	DriverNode string
	// Executors is the node of each of the minimum executors' slots.
	Executors []string
	// Slot is one executor's request.
	Slot Resources
	// DriverCandidates are all nodes the driver may take with the gang still
	// fitting, best first (DriverNode is the first): the adapter's PreFilter
	// restricts the driver to them and its Score ranks them in this order.
	DriverCandidates []string
}

// Fits reports whether the gang has a place.
func (p Placement) Fits() bool { return p.DriverNode != "" }

// Slots counts the executor slots per node.
func (p Placement) Slots() map[string]int {
	m := map[string]int{}
	for _, n := range p.Executors {
		m[n]++
	}
	return m
}

// Reservation is the hold to take for this placement.
func (p Placement) Reservation(app AppKey, expires time.Time) Reservation {
	return Reservation{App: app, Zone: p.Zone, Slot: p.Slot, Nodes: p.Slots(), Expires: expires}
}

// Fit places the driver and the minimum executors of shape, all in one zone
// (see Policy.Zone). snap must already hold every reservation
// (Ledger.Apply), so nothing held for another app is given away.
//
// Every driver node candidate is tried as a statement: the driver, then the
// executors, filled into the nodes of their preferred capacity type first,
// the fullest nodes first (MostAllocated), empty nodes last and those taking
// the most executors first. Plans are ranked by, in order: the driver on its
// preferred capacity type, fewest executors off theirs, fewest executors
// outside the driver's zone (only when spreading), fewest empty nodes
// opened, the fullest nodes used, then zone and node name.
func Fit(snap Snapshot, shape Shape, pol Policy) (Placement, Reasons) {
	f := &fitter{st: statement{nodes: snap.clone().Nodes}, orig: snap.Nodes, shape: shape, pol: pol}
	gang := fmt.Sprintf("the gang of driver (%s) and %d executor(s) (%s each)", shape.Driver, shape.MinExecutors, shape.Executor)

	groups, pinnedGroup := f.groups()
	if pol.DriverNode != "" && pinnedGroup == nil {
		return Placement{}, Reasons{fmt.Sprintf("%s cannot be placed: node %s is not in the snapshot", gang, pol.DriverNode)}
	}
	var outs []outcome
	for _, g := range groups {
		if pinnedGroup != nil && g != pinnedGroup {
			continue
		}
		outs = append(outs, f.fitGroup(g))
	}
	if !anyPlan(outs) && pol.Zone == v1alpha1.ModePreferred && len(groups) > 1 {
		outs = append(outs, f.fitGroup(f.all()))
	}
	if !anyPlan(outs) {
		r := Reasons{gang + " fits nowhere"}
		for _, o := range outs {
			r = append(r, o.why)
		}
		return Placement{}, r
	}

	var plans []*plan
	for i := range outs {
		slices.SortFunc(outs[i].plans, func(a, b plan) int { return f.cmp(&a, &b) })
		for j := range outs[i].plans {
			plans = append(plans, &outs[i].plans[j])
		}
	}
	slices.SortFunc(plans, f.cmp)
	best := *plans[0]
	nodes := f.st.nodes
	p := Placement{Zone: nodes[best.driver].Zone, DriverNode: nodes[best.driver].Name, Slot: shape.Executor}
	for _, i := range best.slots {
		p.Executors = append(p.Executors, nodes[i].Name)
	}
	seen := map[int]bool{}
	for _, pl := range plans {
		if !seen[pl.driver] {
			seen[pl.driver] = true
			p.DriverCandidates = append(p.DriverCandidates, nodes[pl.driver].Name)
		}
	}

	r := Reasons{f.fitWords(gang, &best)}
	for _, o := range outs {
		switch {
		case o.g == best.g:
		case len(o.plans) > 0:
			r = append(r, o.g.label+" also fits, but "+f.worse(&o.plans[0], &best))
		default:
			r = append(r, o.why)
		}
	}
	return p, r
}

// group is a set of nodes the gang may use together: one zone, or the
// whole cluster when zones are off or the gang spreads.
type group struct {
	zone   string
	label  string
	nodes  []int
	spread bool
}

type outcome struct {
	g     *group
	plans []plan
	why   string
}

func anyPlan(outs []outcome) bool {
	for _, o := range outs {
		if len(o.plans) > 0 {
			return true
		}
	}
	return false
}

// plan is one complete placement and what ranks it.
type plan struct {
	g      *group
	driver int
	slots  []int
	// driverMiss is 1 when the driver is off its preferred capacity type,
	// execMiss counts executors off theirs, crossZone those outside the
	// driver's zone, opened the empty nodes used.
	driverMiss, execMiss, crossZone, opened int
	// packing is the mean MostAllocated score (per mille) of the nodes used.
	packing int64
}

type fitter struct {
	st    statement
	orig  []Node
	shape Shape
	pol   Policy
	// isExec marks the nodes of the current group that executors may use.
	isExec []bool
	orders map[string][]ranked
	buf    []int
}

type ranked struct {
	idx int
	key execKey
}

// execKey orders nodes for executors.
type execKey struct {
	tier, away int // off the preferred capacity type; outside the driver's zone
	empty      bool
	util       int64 // fullest first
	room       int   // among empty nodes, the one taking the most first
	name       string
}

func (a execKey) less(b execKey) bool {
	switch {
	case a.tier != b.tier:
		return a.tier < b.tier
	case a.away != b.away:
		return a.away < b.away
	case a.empty != b.empty:
		return !a.empty
	case !a.empty && a.util != b.util:
		return a.util > b.util
	case a.empty && a.room != b.room:
		return a.room > b.room
	}
	return a.name < b.name
}

func zoneLabel(zone string) string {
	if zone == "" {
		return "nodes without a zone label"
	}
	return zone
}

// groups returns the zone groups (one group for all nodes when zones are
// off) sorted by zone, and the group of Policy.DriverNode if set.
func (f *fitter) groups() ([]*group, *group) {
	var pinned *group
	if f.pol.Zone == v1alpha1.ModeOff || f.pol.Zone == "" {
		g := f.all()
		for _, i := range g.nodes {
			if f.st.nodes[i].Name == f.pol.DriverNode {
				pinned = g
			}
		}
		return []*group{g}, pinned
	}
	byZone := map[string]*group{}
	var out []*group
	for i, n := range f.st.nodes {
		g := byZone[n.Zone]
		if g == nil {
			g = &group{zone: n.Zone, label: zoneLabel(n.Zone)}
			byZone[n.Zone] = g
			out = append(out, g)
		}
		g.nodes = append(g.nodes, i)
		if n.Name == f.pol.DriverNode {
			pinned = g
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].zone < out[b].zone })
	return out, pinned
}

func (f *fitter) all() *group {
	g := &group{label: "across zones", spread: true}
	if f.pol.Zone == v1alpha1.ModeOff || f.pol.Zone == "" {
		g.label = "the cluster"
	}
	for i := range f.st.nodes {
		g.nodes = append(g.nodes, i)
	}
	return g
}

func allowed(rule v1alpha1.CapacityRule, t v1alpha1.CapacityType) bool {
	return rule.Mode != v1alpha1.ModeRequired || t == rule.CapacityType
}

func offPreference(rule v1alpha1.CapacityRule, t v1alpha1.CapacityType) bool {
	return rule.Mode == v1alpha1.ModePreferred && t != rule.CapacityType
}

func (f *fitter) fitGroup(g *group) outcome {
	nodes := f.st.nodes
	var drivers []int
	f.isExec = make([]bool, len(nodes))
	f.orders = map[string][]ranked{}
	for _, i := range g.nodes {
		n := &nodes[i]
		f.isExec[i] = n.NoExecutor == "" && allowed(f.pol.Executor, n.CapacityType)
		if f.pol.DriverNode != "" && n.Name != f.pol.DriverNode {
			continue
		}
		if n.NoDriver == "" && allowed(f.pol.Driver, n.CapacityType) && n.fits(f.shape.Driver) {
			drivers = append(drivers, i)
		}
	}
	if len(drivers) == 0 {
		why := g.label + ": " + f.noDriver()
		if f.shape.MinExecutors > 0 {
			why += "; " + f.roomWords(g, f.fill(g, -1))
		}
		f.st.discard()
		return outcome{g: g, why: why}
	}
	var plans []plan
	var partial []int
	for _, d := range drivers {
		f.st.allocate(d, f.shape.Driver)
		slots := f.fill(g, d)
		if len(slots) == f.shape.MinExecutors {
			plans = append(plans, f.score(g, d, slots))
		} else if partial == nil || len(slots) > len(partial) {
			partial = append([]int{}, slots...)
		}
		f.st.discard()
	}
	if len(plans) == 0 {
		return outcome{g: g, why: g.label + ": " + f.roomWords(g, partial)}
	}
	return outcome{g: g, plans: plans}
}

func (f *fitter) key(i int, home string, spread bool) execKey {
	n := &f.st.nodes[i]
	k := execKey{empty: n.Empty, name: n.Name}
	if offPreference(f.pol.Executor, n.CapacityType) {
		k.tier = 1
	}
	if spread && n.Zone != home {
		k.away = 1
	}
	if n.Empty {
		k.room = n.room(f.shape.Executor)
	} else {
		k.util = n.utilization()
	}
	return k
}

// order ranks the group's executor nodes as they are before any driver
// is placed, once per driver zone.
func (f *fitter) order(g *group, home string) []ranked {
	if o, ok := f.orders[home]; ok {
		return o
	}
	var o []ranked
	for _, i := range g.nodes {
		if f.isExec[i] {
			o = append(o, ranked{i, f.key(i, home, g.spread)})
		}
	}
	slices.SortFunc(o, func(a, b ranked) int {
		if a.key.less(b.key) {
			return -1
		}
		if b.key.less(a.key) {
			return 1
		}
		return 0
	})
	f.orders[home] = o
	return o
}

// fill places up to MinExecutors executors in the statement and returns
// their nodes. d is the driver's node (-1 for none): its rank changed when
// the driver went there, so it is merged into the precomputed order at its
// new rank instead of sorting again for every driver candidate.
func (f *fitter) fill(g *group, d int) []int {
	need, size := f.shape.MinExecutors, f.shape.Executor
	if need == 0 {
		return nil
	}
	home := ""
	if g.spread && d >= 0 {
		home = f.st.nodes[d].Zone
	}
	slots := f.buf[:0] // callers copy what they keep
	defer func() { f.buf = slots[:0] }()
	take := func(i int) bool {
		for k := min(f.st.nodes[i].room(size), need-len(slots)); k > 0 && f.st.allocate(i, size); k-- {
			slots = append(slots, i)
		}
		return len(slots) == need
	}
	pending := d >= 0 && f.isExec[d]
	var dKey execKey
	if pending {
		dKey = f.key(d, home, g.spread)
	}
	for _, r := range f.order(g, home) {
		if r.idx == d {
			continue
		}
		if pending && dKey.less(r.key) {
			pending = false
			if take(d) {
				return slots
			}
		}
		if take(r.idx) {
			return slots
		}
	}
	if pending {
		take(d)
	}
	return slots
}

func (f *fitter) score(g *group, d int, slots []int) plan {
	nodes := f.st.nodes
	p := plan{g: g, driver: d, slots: append([]int(nil), slots...)}
	if offPreference(f.pol.Driver, nodes[d].CapacityType) {
		p.driverMiss = 1
	}
	used := []int{d}
	for _, i := range slots {
		if offPreference(f.pol.Executor, nodes[i].CapacityType) {
			p.execMiss++
		}
		if g.spread && nodes[i].Zone != nodes[d].Zone {
			p.crossZone++
		}
		if !slices.Contains(used, i) {
			used = append(used, i)
		}
	}
	var sum int64
	for _, i := range used {
		if f.orig[i].Empty {
			p.opened++
		}
		sum += nodes[i].utilization()
	}
	p.packing = sum / int64(len(used))
	return p
}

// cmp ranks plans, better first.
func (f *fitter) cmp(a, b *plan) int {
	return cmp.Or(
		cmp.Compare(a.driverMiss, b.driverMiss),
		cmp.Compare(a.execMiss, b.execMiss),
		cmp.Compare(a.crossZone, b.crossZone),
		cmp.Compare(a.opened, b.opened),
		cmp.Compare(b.packing, a.packing),
		strings.Compare(a.g.zone, b.g.zone),
		strings.Compare(f.st.nodes[a.driver].Name, f.st.nodes[b.driver].Name),
	)
}

// worse says why plan a ranks below plan b.
func (f *fitter) worse(a, b *plan) string {
	switch {
	case a.driverMiss != b.driverMiss:
		return fmt.Sprintf("the driver would run off %s", f.pol.Driver.CapacityType)
	case a.execMiss != b.execMiss:
		return fmt.Sprintf("%d executor(s) would run off %s (vs %d)", a.execMiss, f.pol.Executor.CapacityType, b.execMiss)
	case a.crossZone != b.crossZone:
		return fmt.Sprintf("%d executor(s) would run outside the driver's zone (vs %d)", a.crossZone, b.crossZone)
	case a.opened != b.opened:
		return fmt.Sprintf("it would use %d empty node(s) (vs %d)", a.opened, b.opened)
	case a.packing != b.packing:
		return fmt.Sprintf("it packs less tightly (nodes used %.1f%% allocated, vs %.1f%%)", float64(a.packing)/10, float64(b.packing)/10)
	}
	return "it ranks later by name"
}

func (f *fitter) fitWords(gang string, p *plan) string {
	nodes := f.st.nodes
	dn := &nodes[p.driver]
	where := "in " + p.g.label
	switch {
	case p.g.spread && p.g.label == "across zones":
		where = "across zones (driver in " + zoneLabel(dn.Zone) + ")"
	case p.g.spread:
		where += " (driver in " + zoneLabel(dn.Zone) + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s fits %s: driver on %s node %s", gang, where, dn.CapacityType, dn.Name)
	if p.driverMiss > 0 {
		fmt.Fprintf(&b, " (not the preferred %s: none has room)", f.pol.Driver.CapacityType)
	}
	if len(p.slots) > 0 {
		b.WriteString("; executors on ")
		for j := 0; j < len(p.slots); {
			k := j
			for k < len(p.slots) && p.slots[k] == p.slots[j] {
				k++
			}
			n := &nodes[p.slots[j]]
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s x%d (%s", n.Name, k-j, n.CapacityType)
			if p.g.spread {
				b.WriteString(", " + zoneLabel(n.Zone))
			}
			b.WriteString(")")
			j = k
		}
	}
	if p.execMiss > 0 {
		fmt.Fprintf(&b, "; %d executor(s) off the preferred %s, which has no more room", p.execMiss, f.pol.Executor.CapacityType)
	}
	if p.opened > 0 {
		fmt.Fprintf(&b, "; uses %d empty node(s)", p.opened)
	}
	return b.String()
}

func (f *fitter) noDriver() string {
	what := "the driver (" + f.shape.Driver.String() + ")"
	if name := f.pol.DriverNode; name != "" {
		for i := range f.st.nodes {
			n := &f.st.nodes[i]
			if n.Name != name {
				continue
			}
			switch {
			case n.NoDriver != "":
				return fmt.Sprintf("node %s cannot take %s: %s", name, what, n.NoDriver)
			case !allowed(f.pol.Driver, n.CapacityType):
				return fmt.Sprintf("node %s is %s, but %s must run on %s", name, n.CapacityType, what, f.pol.Driver.CapacityType)
			}
			return fmt.Sprintf("node %s has %s free, not enough for %s", name, n.Free(), what)
		}
	}
	if f.pol.Driver.Mode == v1alpha1.ModeRequired {
		return fmt.Sprintf("no %s node has room for %s", f.pol.Driver.CapacityType, what)
	}
	return "no node has room for " + what
}

// roomWords says how many executors fit, as in
// "spot has room for 1 of 4 executors (1 cpu, 1408Mi each)".
func (f *fitter) roomWords(g *group, slots []int) string {
	need, each := f.shape.MinExecutors, f.shape.Executor.String()
	rule := f.pol.Executor
	eligible := 0
	for _, i := range g.nodes {
		if f.isExec[i] {
			eligible++
		}
	}
	switch {
	case rule.Mode == v1alpha1.ModeRequired && eligible == 0:
		return fmt.Sprintf("no %s node can take executors", rule.CapacityType)
	case eligible == 0:
		return "no node can take executors"
	case rule.Mode == v1alpha1.ModeRequired:
		return fmt.Sprintf("%s has room for %d of %d executors (%s each)", rule.CapacityType, len(slots), need, each)
	case rule.Mode == v1alpha1.ModePreferred:
		on := 0
		for _, i := range slots {
			if !offPreference(rule, f.st.nodes[i].CapacityType) {
				on++
			}
		}
		return fmt.Sprintf("room for %d of %d executors (%s each): %d on %s, %d on other capacity", len(slots), need, each, on, rule.CapacityType, len(slots)-on)
	}
	return fmt.Sprintf("room for %d of %d executors (%s each)", len(slots), need, each)
}
