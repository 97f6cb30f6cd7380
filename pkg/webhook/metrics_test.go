package webhook

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sparkplane/sparkplane/pkg/audit"
)

func TestPlacementGauges(t *testing.T) {
	m := NewMetrics(func() float64 { return 0 })
	names := []string{"sparkplane_webhook_executors", "sparkplane_webhook_cross_zone_apps"}
	if n, err := testutil.GatherAndCount(m.Registry, names...); err != nil || n != 0 {
		t.Fatalf("without a source: %d series (err %v), want none", n, err)
	}
	synced := false
	m.SetPlacementSource(func() (audit.Totals, bool) {
		return audit.Totals{SameZone: 5, CrossZone: 2, Pending: 1, UnknownZone: 3, AppsCrossZone: 1}, synced
	})
	if n, _ := testutil.GatherAndCount(m.Registry, names...); n != 0 {
		t.Fatalf("before the caches sync: %d series, want none", n)
	}
	synced = true
	want := `
# HELP sparkplane_webhook_cross_zone_apps Spark apps with at least one executor outside its driver's zone, in the webhook's informer cache. Computed at scrape time.
# TYPE sparkplane_webhook_cross_zone_apps gauge
sparkplane_webhook_cross_zone_apps 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names[1]); err != nil {
		t.Error(err)
	}
	got := map[string]float64{}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == names[0] {
			for _, s := range mf.GetMetric() {
				got[s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
			}
		}
	}
	if w := map[string]float64{"same-zone": 5, "cross-zone": 2, "pending": 1, "unknown": 3}; len(got) != len(w) ||
		got["same-zone"] != 5 || got["cross-zone"] != 2 || got["pending"] != 1 || got["unknown"] != 3 {
		t.Errorf("executors gauge %v, want %v", got, w)
	}
}
