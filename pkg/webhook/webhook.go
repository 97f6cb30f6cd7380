// Package webhook is the sparkplane mutating admission webhook: a thin
// adapter that feeds Spark pods and what informer caches know about their
// drivers into placement.Decide and returns the decision as a JSON patch.
// It also runs the availability escape when that is switched on.
package webhook

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// Options configure a Webhook.
type Options struct {
	// Config is a defaulted, validated configuration.
	Config     *v1alpha1.SparkplaneConfiguration
	RestConfig *rest.Config
	Server     ServerOptions
	Log        logr.Logger
}

// Webhook is the assembled component: caches, handler, escape and server.
type Webhook struct {
	Cache     *Cache
	Metrics   *Metrics
	server    *Server
	escape    *Escape
	events    record.EventBroadcaster
	eventSink record.EventSink
	log       logr.Logger
}

// New wires the webhook. It binds the port and checks the certificate flags, so a bad
// flag fails here, before anything runs.
func New(opts Options) (*Webhook, error) {
	if opts.Config == nil {
		opts.Config = v1alpha1.Default()
	}
	if errs := v1alpha1.Validate(opts.Config); len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errs.ToAggregate())
	}
	w := &Webhook{log: opts.Log}
	var cache *Cache
	w.Metrics = NewMetrics(func() float64 {
		if cache == nil {
			return 0
		}
		return cache.LastEventAge().Seconds()
	})
	cfg := rest.CopyConfig(opts.RestConfig)
	cfg.UserAgent = "sparkplane-webhook"
	cfg.Wrap(w.Metrics.CountingTransport)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating metadata client: %w", err)
	}
	if cache, err = NewCache(client, meta, opts.Config.ZoneLabel); err != nil {
		return nil, err
	}
	w.Cache = cache
	w.Metrics.SetPlacementSource(cache.Placements)

	// Events are written by the broadcaster's goroutine, never on the
	// admission path; it also rate-limits and aggregates repeats.
	w.events = record.NewBroadcaster()
	recorder := w.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "sparkplane-webhook"})
	w.eventSink = &typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")}
	podEvents := NewPodEvents(recorder, cache.Pod, opts.Log.WithName("events"))
	if err := cache.AddPodHandler(podEvents); err != nil {
		return nil, err
	}
	if esc := opts.Config.AvailabilityEscape; esc.Enabled {
		w.escape = &Escape{
			Client: client, Cache: cache, Window: esc.Window.Duration, Interval: esc.Interval.Duration,
			Recorder: recorder, Metrics: w.Metrics, Log: opts.Log.WithName("escape"),
		}
	}

	mutator := &Mutator{Config: opts.Config, Lookup: cache, Metrics: w.Metrics, Log: opts.Log.WithName("mutator"), CacheWait: DefaultCacheWait, Events: podEvents}
	mux := http.NewServeMux()
	mux.Handle(PathMutate, AdmissionHandler(mutator, opts.Log))
	mux.HandleFunc(PathHealthz, func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte("ok")) })
	mux.HandleFunc(PathReadyz, func(rw http.ResponseWriter, _ *http.Request) {
		if !w.server.CertReady() {
			http.Error(rw, "waiting for the TLS certificate files", http.StatusServiceUnavailable)
			return
		}
		if !cache.HasSynced() {
			http.Error(rw, "informer caches not synced yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ok"))
	})
	mux.Handle(PathMetrics, w.Metrics.Handler())
	if w.server, err = NewServer(opts.Server, mux, opts.Log); err != nil {
		return nil, err
	}
	return w, nil
}

// Addr is the address the HTTPS server listens on.
func (w *Webhook) Addr() string { return w.server.Addr() }

// Run starts the caches, the escape (when enabled) and the server, and
// blocks until ctx ends.
func (w *Webhook) Run(ctx context.Context) error {
	w.Cache.Start(ctx)
	w.events.StartRecordingToSink(w.eventSink)
	defer w.events.Shutdown()
	if w.escape != nil {
		go func() {
			if w.Cache.WaitForSync(ctx) {
				w.escape.Run(ctx)
			}
		}()
	}
	go func() {
		if w.Cache.WaitForSync(ctx) {
			w.log.Info("informer caches synced; ready")
		}
	}()
	return w.server.Run(ctx)
}
