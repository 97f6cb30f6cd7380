package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// TestZoneChoice: zone-a has on-demand room for the driver but no spot
// room for the executors, zone-b has both. The driver must go to zone-b
// (not to zone-a, first by name and with the larger on-demand node), and
// every executor must follow it onto zone-b's spot node.
func TestZoneChoice(t *testing.T) {
	ns := namespace(t)
	createNodes(t, ns,
		node{name: "a-od", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "8"},
		node{name: "a-spot", zone: "zone-a", capacity: v1alpha1.CapacitySpot, cpu: "1"},
		node{name: "b-od", zone: "zone-b", capacity: v1alpha1.CapacityOnDemand, cpu: "2"},
		node{name: "b-spot", zone: "zone-b", capacity: v1alpha1.CapacitySpot, cpu: "8"})
	startScheduler(t, nil)
	rec := record(t, ns)
	// Executors need spot: the default rule only prefers it, and zone-a's
	// on-demand node could take them.
	app := sparkApp(ns, "zonal", 4, time.Second)
	app.Properties = map[string]string{}
	app.DriverAnnotations = map[string]string{"sparkplane.io/executor-capacity-type": "spot"}
	d := submit(t, app)
	waitDone(t, rec, 30*time.Second, d)

	if got, want := rec.nodeOf(app.DriverName()), ns+"-b-od"; got != want {
		t.Errorf("driver on %q, want %q (zone-b, the only zone where the whole gang fits)\n%s", got, want, rec.dump())
	}
	execs := rec.executors(app)
	if len(execs) != 4 {
		t.Fatalf("%d executors, want 4\n%s", len(execs), rec.dump())
	}
	for _, e := range execs {
		if n := rec.nodeOf(e); n != ns+"-b-spot" {
			t.Errorf("executor %s on %q, want %s-b-spot (the driver's zone, spot)", e, n, ns)
		}
	}
	if msg, ok := rec.unschedulable(app.DriverName()); ok {
		t.Errorf("driver was marked Unschedulable: %s", msg)
	}
}

// TestZonePreferredCapacity: with the default rules (driver on-demand
// required, executors spot preferred) zone-a's gang would need executors
// on on-demand, zone-b's fits on spot; the gang goes to zone-b.
func TestZonePreferredCapacity(t *testing.T) {
	ns := namespace(t)
	createNodes(t, ns,
		node{name: "a-od", zone: "zone-a", capacity: v1alpha1.CapacityOnDemand, cpu: "8"},
		node{name: "b-od", zone: "zone-b", capacity: v1alpha1.CapacityOnDemand, cpu: "2"},
		node{name: "b-spot", zone: "zone-b", capacity: v1alpha1.CapacitySpot, cpu: "8"})
	startScheduler(t, nil)
	rec := record(t, ns)
	app := sparkApp(ns, "prefer", 3, time.Second)
	d := submit(t, app)
	waitDone(t, rec, 30*time.Second, d)
	if got := rec.nodeOf(app.DriverName()); !strings.HasSuffix(got, "-b-od") {
		t.Errorf("driver on %q, want zone-b's on-demand node\n%s", got, rec.dump())
	}
	for _, e := range rec.executors(app) {
		if n := rec.nodeOf(e); !strings.HasSuffix(n, "-b-spot") {
			t.Errorf("executor %s on %q, want zone-b's spot node", e, n)
		}
	}
}
