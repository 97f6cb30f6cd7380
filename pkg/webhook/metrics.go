package webhook

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sparkplane/sparkplane/pkg/audit"
)

// Metrics are the webhook's Prometheus metrics, on a registry of their own
// (no global state): serve them with Metrics.Handler.
type Metrics struct {
	Registry *prometheus.Registry

	Admissions       *prometheus.CounterVec
	DecisionLatency  *prometheus.HistogramVec
	ZoneDecisions    *prometheus.CounterVec
	Fallbacks        *prometheus.CounterVec
	DriverLookups    *prometheus.CounterVec
	CacheWaits       *prometheus.CounterVec
	InvalidPatches   *prometheus.CounterVec
	EscapeEvictions  prometheus.Counter
	EscapeApps       prometheus.Counter
	APIRequests      *prometheus.CounterVec
	apiRequestsTotal atomic.Int64
	placements       *placementCollector
	collectors       []prometheus.Collector
}

// NewMetrics registers the webhook's metrics. cacheAge reports the seconds
// since the pod informer last delivered an event (the cache-staleness gauge).
func NewMetrics(cacheAge func() float64) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sparkplane_webhook_admissions_total",
			Help: "Pod admissions by Spark role (driver, executor, other) and outcome (mutated, unchanged, denied, error).",
		}, []string{"role", "outcome"}),
		DecisionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sparkplane_webhook_decision_duration_seconds",
			Help:    "Time to decide and build the patch for one Spark pod, by role.",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05},
		}, []string{"role"}),
		ZoneDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sparkplane_webhook_executor_zone_decisions_total",
			Help: "Executor zone decisions by outcome: required (pinned to the driver's zone), preferred, escaped, app-affinity, user-constraint, unknown, off.",
		}, []string{"outcome"}),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sparkplane_webhook_fallbacks_total",
			Help: "Executors not required to their driver's zone, by reason: escaped, app-affinity, user-constraint, unknown, invalid-annotation.",
		}, []string{"reason"}),
		DriverLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sparkplane_webhook_driver_lookups_total",
			Help: "Driver lookups from the informer cache for executors, by result: owner-reference, app-selector, not-found, not-bound, node-unknown.",
		}, []string{"result"}),
		CacheWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sparkplane_webhook_cache_waits_total",
			Help: "Executors whose driver the cache did not yet show bound, by outcome: caught-up (the informer delivered it in time) or timed-out.",
		}, []string{"outcome"}),
		InvalidPatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sparkplane_webhook_invalid_patches_total",
			Help: "Spark pods admitted unchanged, by role, because sparkplane's patch would have made them invalid (a configuration that writes what the API server rejects); each also gets an admission warning and an InvalidPatch event.",
		}, []string{"role"}),
		EscapeEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sparkplane_webhook_escape_evictions_total",
			Help: "Executors deleted by the availability escape after staying unschedulable in their driver's zone.",
		}),
		EscapeApps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sparkplane_webhook_escape_apps_total",
			Help: "Apps marked by the availability escape (their later executors only prefer the driver's zone).",
		}),
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sparkplane_kube_api_requests_total",
			Help: "Requests the webhook sent to the Kubernetes API, by method (WATCH for informer watches, which client-go re-opens now and then; GET for informer lists; PATCH/DELETE/POST for the escape and its events).",
		}, []string{"method"}),
		placements: newPlacementCollector(),
	}
	m.collectors = []prometheus.Collector{m.placements, m.Admissions, m.DecisionLatency, m.ZoneDecisions, m.Fallbacks, m.DriverLookups, m.CacheWaits, m.InvalidPatches,
		m.EscapeEvictions, m.EscapeApps, m.APIRequests,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sparkplane_webhook_cache_last_event_age_seconds",
			Help: "Seconds since the Spark pod informer last delivered an event; a large value on a busy cluster means a stale cache.",
		}, cacheAge),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	m.Registry.MustRegister(m.collectors...)
	return m
}

// Describe sends the description of every metric the webhook exports,
// including vectors that have no series yet (which Gather leaves out).
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors {
		c.Describe(ch)
	}
}

// SetPlacementSource sets what the placement gauges report at scrape time;
// f returns false while it has nothing to report (caches not synced), and
// then the gauges are left out rather than reported as zero.
func (m *Metrics) SetPlacementSource(f func() (audit.Totals, bool)) { m.placements.source.Store(&f) }

// placementCollector reports where executors run relative to their
// driver's zone, computed when scraped (audit.Classify is the definition).
type placementCollector struct {
	source    atomic.Pointer[func() (audit.Totals, bool)]
	executors *prometheus.Desc
	apps      *prometheus.Desc
}

func newPlacementCollector() *placementCollector {
	return &placementCollector{
		executors: prometheus.NewDesc("sparkplane_webhook_executors",
			"Live Spark executors in the webhook's informer cache by placement relative to their driver's zone: same-zone, cross-zone "+
				"(each one is a cross-zone driver<->executor pair), pending (not bound to a node) or unknown (no bound driver pod, as in client mode, "+
				"or a node without zone label). Computed at scrape time.", []string{"placement"}, nil),
		apps: prometheus.NewDesc("sparkplane_webhook_cross_zone_apps",
			"Spark apps with at least one executor outside its driver's zone, in the webhook's informer cache. Computed at scrape time.", nil, nil),
	}
}

func (c *placementCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.executors
	ch <- c.apps
}

func (c *placementCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.source.Load()
	if f == nil {
		return
	}
	t, ok := (*f)()
	if !ok {
		return
	}
	for _, r := range audit.Relations() {
		ch <- prometheus.MustNewConstMetric(c.executors, prometheus.GaugeValue, float64(t.Count(r)), string(r))
	}
	ch <- prometheus.MustNewConstMetric(c.apps, prometheus.GaugeValue, float64(t.AppsCrossZone))
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// CountingTransport wraps a client transport and counts every request sent
// to the API server, so "zero API calls per admission" can be checked.
func (m *Metrics) CountingTransport(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Query().Get("watch") == "true" {
			m.APIRequests.WithLabelValues("WATCH").Inc()
		} else {
			m.APIRequests.WithLabelValues(r.Method).Inc()
			m.apiRequestsTotal.Add(1)
		}
		return rt.RoundTrip(r)
	})
}

// APIRequestCount is the number of API requests sent so far, informer
// watches aside (they are long-lived streams that client-go re-opens on its
// own schedule, not work done for an admission).
func (m *Metrics) APIRequestCount() int64 { return m.apiRequestsTotal.Load() }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
