package gang

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sparkplane/sparkplane/pkg/spark"
)

// AnnotationGang is written on the driver pod when its gang is reserved, so
// that the reservation survives a scheduler restart (see Rebuild), e.g.
//
//	zone=zone-b;cpu=1;memory=1408Mi;nodes=n1:2,n2:2;expires=2026-01-02T15:04:05Z
const AnnotationGang = "sparkplane.io/gang"

// AppKey names a Spark app: "<namespace>/<spark-app-selector>".
type AppKey string

// AppKeyOf is the app of a driver or executor pod. A driver without a
// spark-app-selector label (a hand-made client-mode driver) is keyed by its
// own name.
func AppKeyOf(pod *corev1.Pod) AppKey {
	if id := spark.AppID(pod); id != "" {
		return AppKey(pod.Namespace + "/" + id)
	}
	return AppKey(pod.Namespace + "/" + pod.Name)
}

// TakesSlot reports whether an executor pod counts against its app's
// reservation: it has been bound to a node, whatever became of it since.
// The adapter and Rebuild must agree on this, so that a rebuilt ledger
// matches the live one.
func TakesSlot(pod *corev1.Pod) bool {
	return spark.RoleOf(pod) == spark.RoleExecutor && pod.Spec.NodeName != ""
}

// Reservation is room held for the minimum executors of one app.
type Reservation struct {
	App  AppKey
	Zone string
	// Slot is one executor's request.
	Slot Resources
	// Nodes counts the slots reserved per node.
	Nodes map[string]int
	// Expires is when the room is released if the executors have not come.
	Expires time.Time
}

// Size is the number of slots.
func (r Reservation) Size() int {
	n := 0
	for _, k := range r.Nodes {
		n += k
	}
	return n
}

// Held is a reservation and what is left of it.
type Held struct {
	Reservation
	// Remaining counts the slots per node no executor has taken yet.
	Remaining map[string]int
	// Executors maps each executor pod that took a slot to its node.
	Executors map[string]string
}

// Room is what the remaining slots hold.
func (h Held) Room() Resources {
	n := 0
	for _, k := range h.Remaining {
		n += k
	}
	return h.Slot.Times(n)
}

// Ledger is the set of reservations, one per app. Reserve is all-or-nothing
// and checks the room against the snapshot plus every other reservation, so
// no room is ever promised twice. Not safe for concurrent use.
type Ledger struct {
	held map[AppKey]*Held
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{held: map[AppKey]*Held{}} }

// Reserve holds r's slots if all of them fit in snap on top of what is
// already held; otherwise nothing changes. snap is the cluster without the
// ledger applied, with the app's driver already counted on its node (the
// framework has assumed it by the time its Reserve runs).
func (l *Ledger) Reserve(snap Snapshot, r Reservation) error {
	switch {
	case r.App == "":
		return fmt.Errorf("reservation without an app")
	case l.held[r.App] != nil:
		return fmt.Errorf("app %s already holds a reservation", r.App)
	case r.Expires.IsZero():
		return fmt.Errorf("reservation for app %s has no expiry", r.App)
	}
	index := map[string]int{}
	for i, n := range snap.Nodes {
		index[n.Name] = i
	}
	names := slices.Sorted(maps.Keys(r.Nodes))
	for _, name := range names {
		if r.Nodes[name] <= 0 {
			return fmt.Errorf("reservation for app %s: node %s: %d slots", r.App, name, r.Nodes[name])
		}
		if _, ok := index[name]; !ok {
			return fmt.Errorf("reservation for app %s: node %s is not in the snapshot", r.App, name)
		}
	}
	st := statement{nodes: l.Apply(snap, "").Nodes}
	for _, name := range names {
		i := index[name]
		for k := 0; k < r.Nodes[name]; k++ {
			if !st.allocate(i, r.Slot) {
				st.discard()
				return fmt.Errorf("cannot reserve for app %s: node %s has room for %d of %d executor slots (%s each) beside what is already held",
					r.App, name, k, r.Nodes[name], r.Slot)
			}
		}
	}
	st.commit()
	if r.Size() == 0 {
		return nil // a gang of the driver alone holds nothing
	}
	h := &Held{Reservation: normalize(r), Executors: map[string]string{}}
	h.Remaining = remaining(h.Nodes, h.Executors)
	l.held[r.App] = h
	return nil
}

// normalize copies r's map and keeps its expiry to the second, as the
// annotation does, so a rebuilt ledger equals the live one.
func normalize(r Reservation) Reservation {
	nodes := make(map[string]int, len(r.Nodes))
	for k, v := range r.Nodes {
		nodes[k] = v
	}
	r.Nodes = nodes
	r.Expires = r.Expires.UTC().Truncate(time.Second)
	return r
}

// Consume records that an executor of app was bound to node. It takes a
// slot while any is left (one on its own node when there is one) and
// reports whether it did and whether that completed the reservation, which
// then is gone. Consuming the same executor twice changes nothing.
// Executors beyond the reservation are best effort.
func (l *Ledger) Consume(app AppKey, executor, node string) (took, complete bool) {
	h := l.held[app]
	if h == nil {
		return false, false
	}
	if _, ok := h.Executors[executor]; ok {
		return true, false
	}
	if len(h.Executors) >= h.Size() {
		return false, false
	}
	h.Executors[executor] = node
	if len(h.Executors) == h.Size() {
		delete(l.held, app)
		return true, true
	}
	h.Remaining = remaining(h.Nodes, h.Executors)
	return true, false
}

// remaining assigns the executors to slots: first each to a slot on its own
// node, then the rest (executors on nodes without a slot of theirs left)
// to the free slots last in node-name order. It depends only on the set of
// executors, not the order they came in, so Rebuild arrives at the same
// slots as the live ledger. Adding an executor never raises the slots left
// on any node, and an executor on a node with a slot left takes exactly
// that slot and moves no other: the room it fills is the room it was held
// for, so nothing is counted twice and nothing held is given away.
func remaining(slots map[string]int, executors map[string]string) map[string]int {
	onNode := make(map[string]int, len(slots))
	for _, node := range executors {
		onNode[node]++
	}
	left := make(map[string]int, len(slots))
	unmatched := len(executors)
	for n, k := range slots {
		matched := min(onNode[n], k)
		left[n] = k - matched
		unmatched -= matched
	}
	names := slices.Sorted(maps.Keys(slots))
	for i := len(names) - 1; i >= 0 && unmatched > 0; i-- {
		take := min(left[names[i]], unmatched)
		left[names[i]] -= take
		unmatched -= take
	}
	for n, k := range left {
		if k == 0 {
			delete(left, n)
		}
	}
	return left
}

// Release drops an app's reservation (driver gone, binding failed, app
// done) and reports whether there was one.
func (l *Ledger) Release(app AppKey) bool {
	_, ok := l.held[app]
	delete(l.held, app)
	return ok
}

// Expire releases every reservation whose time is up and returns them.
func (l *Ledger) Expire(now time.Time) []Held {
	var out []Held
	for app, h := range l.held {
		if !now.Before(h.Expires) {
			out = append(out, h.clone())
			delete(l.held, app)
		}
	}
	sortHeld(out)
	return out
}

// Get returns a copy of the app's reservation.
func (l *Ledger) Get(app AppKey) (Held, bool) {
	h := l.held[app]
	if h == nil {
		return Held{}, false
	}
	return h.clone(), true
}

// All returns a copy of every reservation, sorted by app.
func (l *Ledger) All() []Held {
	out := make([]Held, 0, len(l.held))
	for _, h := range l.held {
		out = append(out, h.clone())
	}
	sortHeld(out)
	return out
}

// NodeHold is what reservations still hold on one node.
type NodeHold struct {
	Slots int
	Room  Resources
}

// HeldPerNode sums, per node, the slots every app but except still holds
// and the room they take. It copies nothing else, as the scheduler asks it
// for every pod it schedules.
func (l *Ledger) HeldPerNode(except AppKey) map[string]NodeHold {
	out := map[string]NodeHold{}
	for app, h := range l.held {
		if app == except {
			continue
		}
		for node, k := range h.Remaining {
			r := out[node]
			r.Room = r.Room.Add(h.Slot.Times(k))
			r.Slots += k
			out[node] = r
		}
	}
	return out
}

// Apply returns a copy of snap in which the slots still held count as
// requested (and as pods), except those of app except: an app's own
// executors may use its own slots, nobody else may.
func (l *Ledger) Apply(snap Snapshot, except AppKey) Snapshot {
	out := snap.clone()
	if len(l.held) == 0 {
		return out
	}
	index := make(map[string]int, len(out.Nodes))
	for i, n := range out.Nodes {
		index[n.Name] = i
	}
	for app, h := range l.held {
		if app == except {
			continue
		}
		for node, k := range h.Remaining {
			if i, ok := index[node]; ok {
				n := &out.Nodes[i]
				n.Requested = n.Requested.Add(h.Slot.Times(k))
				n.Pods += k
				n.Empty = false
			}
		}
	}
	return out
}

func (h *Held) clone() Held {
	c := Held{Reservation: normalize(h.Reservation), Remaining: map[string]int{}, Executors: map[string]string{}}
	for k, v := range h.Remaining {
		c.Remaining[k] = v
	}
	for k, v := range h.Executors {
		c.Executors[k] = v
	}
	return c
}

func sortHeld(hs []Held) { sort.Slice(hs, func(i, j int) bool { return hs[i].App < hs[j].App }) }

// Rebuild recovers the ledger from the API server after a restart: the
// AnnotationGang of every live driver, minus the executors already bound
// (TakesSlot). Expired reservations are kept so that the caller's
// Expire(now) reports them. Errors name drivers whose annotation is invalid;
// those are skipped. An executor that took a slot and has since been
// deleted is not seen, so its slot comes back until the reservation
// expires: conservative, never an overbooking of what the live ledger held.
func Rebuild(drivers, executors []*corev1.Pod) (*Ledger, []error) {
	l := NewLedger()
	var errs []error
	created := map[AppKey]time.Time{}
	for _, d := range drivers {
		v, ok := d.Annotations[AnnotationGang]
		if !ok || d.DeletionTimestamp != nil || d.Status.Phase == corev1.PodSucceeded || d.Status.Phase == corev1.PodFailed {
			continue
		}
		r, err := DecodeReservation(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("driver %s/%s: annotation %s: %w", d.Namespace, d.Name, AnnotationGang, err))
			continue
		}
		r.App = AppKeyOf(d)
		if t, dup := created[r.App]; dup {
			errs = append(errs, fmt.Errorf("driver %s/%s: app %s has more than one driver with a reservation; the newest wins", d.Namespace, d.Name, r.App))
			if d.CreationTimestamp.Time.Before(t) {
				continue
			}
		}
		created[r.App] = d.CreationTimestamp.Time
		if r.Size() == 0 {
			delete(l.held, r.App)
			continue
		}
		h := &Held{Reservation: normalize(r), Executors: map[string]string{}}
		h.Remaining = remaining(h.Nodes, h.Executors)
		l.held[r.App] = h
	}
	sorted := append([]*corev1.Pod(nil), executors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, e := range sorted {
		if TakesSlot(e) {
			l.Consume(AppKeyOf(e), e.Name, e.Spec.NodeName)
		}
	}
	return l, errs
}

// Encode writes the reservation (without its app, which is the pod it is
// written on) in the AnnotationGang format. Nodes come sorted by name, so
// equal reservations encode equally.
func (r Reservation) Encode() string {
	var b strings.Builder
	b.WriteString("zone=" + r.Zone)
	b.WriteString(";cpu=" + resource.NewMilliQuantity(r.Slot.MilliCPU, resource.DecimalSI).String())
	b.WriteString(";memory=" + resource.NewQuantity(r.Slot.Memory, resource.BinarySI).String())
	b.WriteString(";nodes=")
	for i, n := range slices.Sorted(maps.Keys(r.Nodes)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + ":" + strconv.Itoa(r.Nodes[n]))
	}
	b.WriteString(";expires=" + r.Expires.UTC().Format(time.RFC3339))
	return b.String()
}

// maxSlotsPerNode bounds a node's slot count in an annotation.
const maxSlotsPerNode = 1 << 16

// DecodeReservation reads the AnnotationGang format. Fields may come in any
// order; unknown fields are ignored so an older scheduler can read what a
// newer one wrote. The expiry is kept to the second.
func DecodeReservation(s string) (Reservation, error) {
	var r Reservation
	seen := map[string]bool{}
	for _, field := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return Reservation{}, fmt.Errorf("%q is not key=value", field)
		}
		if seen[k] {
			return Reservation{}, fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "zone":
			if v != "" {
				if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
					err = fmt.Errorf("zone %q: %s", v, strings.Join(msgs, ", "))
				}
			}
			r.Zone = v
		case "cpu":
			var q resource.Quantity
			if q, err = quantity(k, v); err == nil {
				r.Slot.MilliCPU = q.MilliValue()
			}
		case "memory":
			var q resource.Quantity
			if q, err = quantity(k, v); err == nil {
				r.Slot.Memory = q.Value()
			}
		case "nodes":
			r.Nodes, err = decodeNodes(v)
		case "expires":
			var t time.Time
			if t, err = time.Parse(time.RFC3339, v); err == nil {
				r.Expires = t.UTC().Truncate(time.Second)
				if y := r.Expires.Year(); y < 1 || y > 9999 {
					err = fmt.Errorf("expires %q is out of range", v)
				}
			}
		}
		if err != nil {
			return Reservation{}, err
		}
	}
	for _, k := range []string{"cpu", "memory", "nodes", "expires"} {
		if !seen[k] {
			return Reservation{}, fmt.Errorf("%s is missing", k)
		}
	}
	return r, nil
}

func quantity(k, v string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() < 0 || tooLarge(q) {
		return resource.Quantity{}, fmt.Errorf("%s %q is not a quantity between 0 and 1Pi", k, v)
	}
	return q, nil
}

func decodeNodes(v string) (map[string]int, error) {
	nodes := map[string]int{}
	if v == "" {
		return nodes, nil
	}
	for _, e := range strings.Split(v, ",") {
		name, count, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("node entry %q is not name:slots", e)
		}
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			return nil, fmt.Errorf("node name %q: %s", name, strings.Join(msgs, ", "))
		}
		k, err := strconv.Atoi(count)
		if err != nil || k < 1 || k > maxSlotsPerNode {
			return nil, fmt.Errorf("node %s: %q is not a slot count between 1 and %d", name, count, maxSlotsPerNode)
		}
		if _, dup := nodes[name]; dup {
			return nil, fmt.Errorf("node %s given twice", name)
		}
		nodes[name] = k
	}
	return nodes, nil
}
