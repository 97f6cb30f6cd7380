package scheduler

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sparkplane/sparkplane/pkg/gang"
)

const metricsNamespace = "sparkplane_scheduler"

// Metrics are the SparkGang plugin's Prometheus metrics. Create them once
// per process and pass them to every plugin instance (NewRegistry), so that
// a scheduler restarted in the same process reports into the same series.
// Register them on the registry you expose: in the sparkplane scheduler
// command that is the kube-scheduler's own /metrics registry.
type Metrics struct {
	gangWait     *prometheus.HistogramVec
	decisions    *prometheus.CounterVec
	reservations *prometheus.CounterVec
	state        *stateCollector
}

// Reservation events, the values of the "event" label.
const (
	eventReserved  = "reserved"
	eventCompleted = "completed"
	eventExpired   = "expired"
	eventReleased  = "released"
)

// NewMetrics creates the metrics, unregistered.
func NewMetrics() *Metrics {
	return &Metrics{
		gangWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "gang_wait_seconds",
			Help:    "Time from a driver's creation until its gang (driver and minimum executors) was reserved and the driver bound, by queue.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2.5, 12),
		}, []string{"queue"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "decisions_total",
			Help: "Queue and gang decisions, by pod role (driver, executor) and outcome (admit, wait-quota, wait-driver-share, wait-fifo, wait-conf, wait-start, no-fit, reserved).",
		}, []string{"role", "outcome"}),
		reservations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "reservations_total",
			Help: "Gang reservations by event: reserved (driver bound with its executor slots held), completed (every slot taken), expired (slots released by the timeout), released (driver gone or binding failed).",
		}, []string{"event"}),
		state: newStateCollector(),
	}
}

// Register registers every collector with reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.gangWait, m.decisions, m.reservations, m.state} {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}

func (m *Metrics) decision(role, outcome string) {
	m.decisions.WithLabelValues(role, outcome).Inc()
}

func (m *Metrics) reservation(event string, n int) {
	if n > 0 {
		m.reservations.WithLabelValues(event).Add(float64(n))
	}
}

// stateSnapshot is what the gauges report, read at scrape time from the
// plugin instance that runs now.
type stateSnapshot struct {
	queues   []queueMetrics
	held     int
	heldSlot int
}

type queueMetrics struct {
	status gang.QueueStatus
	queue  gang.Queue
}

type stateCollector struct {
	source atomic.Pointer[func() stateSnapshot]

	held, slots                                     *prometheus.Desc
	usedCPU, usedMem, driverCPU, driverMem, maxCPU  *prometheus.Desc
	maxMem, running, waiting, headWait, driverShare *prometheus.Desc
}

func newStateCollector() *stateCollector {
	q := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "queue", name), help, []string{"queue"}, nil)
	}
	return &stateCollector{
		held:        prometheus.NewDesc(metricsNamespace+"_reservations_held", "Gang reservations currently holding executor slots.", nil, nil),
		slots:       prometheus.NewDesc(metricsNamespace+"_reserved_slots", "Executor slots currently held for gangs and not yet taken by an executor.", nil, nil),
		usedCPU:     q("used_cpu_cores", "CPU held by the queue's running apps: drivers, executors and reserved slots."),
		usedMem:     q("used_memory_bytes", "Memory held by the queue's running apps: drivers, executors and reserved slots."),
		driverCPU:   q("driver_cpu_cores", "CPU held by the queue's drivers."),
		driverMem:   q("driver_memory_bytes", "Memory held by the queue's drivers."),
		maxCPU:      q("max_cpu_cores", "The queue's CPU maximum (0: none)."),
		maxMem:      q("max_memory_bytes", "The queue's memory maximum (0: none)."),
		driverShare: q("max_driver_share", "The queue's maxDriverShare (0: none)."),
		running:     q("running_apps", "Apps of the queue whose driver is admitted."),
		waiting:     q("waiting_apps", "Apps of the queue whose driver waits for admission or room."),
		headWait:    q("head_wait_seconds", "How long the oldest waiting app of the queue has waited (0: none waits)."),
	}
}

func (c *stateCollector) setSource(f func() stateSnapshot) { c.source.Store(&f) }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.held, c.slots, c.usedCPU, c.usedMem, c.driverCPU, c.driverMem, c.maxCPU, c.maxMem, c.driverShare, c.running, c.waiting, c.headWait} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.source.Load()
	if f == nil {
		return
	}
	s := (*f)()
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(s.held))
	ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(s.heldSlot))
	for _, q := range s.queues {
		st, name := q.status, q.status.Name
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		g(c.usedCPU, float64(st.Used.MilliCPU)/1000)
		g(c.usedMem, float64(st.Used.Memory))
		g(c.driverCPU, float64(st.Drivers.MilliCPU)/1000)
		g(c.driverMem, float64(st.Drivers.Memory))
		g(c.maxCPU, float64(q.queue.MaxCPU.MilliValue())/1000)
		g(c.maxMem, float64(q.queue.MaxMemory.Value()))
		g(c.driverShare, q.queue.MaxDriverShare)
		g(c.running, float64(st.Running))
		g(c.waiting, float64(st.Waiting))
		g(c.headWait, st.HeadWait.Seconds())
	}
}
