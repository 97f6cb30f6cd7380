package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/sparkplane/sparkplane/pkg/placement"
)

// Escape is the availability escape: executors pinned to their driver's zone
// that stay unschedulable longer than the window, and never ran, are deleted
// (Spark re-requests them) after their app is marked so that the
// replacements only prefer the zone. A job never pends forever because of
// sparkplane. It needs RBAC to patch and delete pods and to create events.
type Escape struct {
	Client   kubernetes.Interface
	Cache    *Cache
	Window   time.Duration
	Interval time.Duration
	Recorder record.EventRecorder
	Metrics  *Metrics
	Log      logr.Logger
}

// Run sweeps every Interval until ctx ends.
func (e *Escape) Run(ctx context.Context) {
	t := time.NewTicker(e.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.Sweep(ctx, time.Now()); err != nil {
				e.Log.Error(err, "availability escape sweep failed; check the webhook's RBAC (pods: patch, delete; events: create)")
			}
		}
	}
}

// Sweep handles every stuck app once.
func (e *Escape) Sweep(ctx context.Context, now time.Time) error {
	var firstErr error
	for _, app := range placement.StuckExecutors(now, e.Window, e.Cache.SparkPods()) {
		if err := e.release(ctx, now, app); err != nil {
			e.Log.Error(err, "releasing stuck executors", "namespace", app.Namespace, "app", app.AppID)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

func (e *Escape) release(ctx context.Context, now time.Time, app placement.StuckApp) error {
	mark := app.Mark(now, e.Window)
	// Mark before deleting: Spark re-creates the executors within seconds and
	// the replacements must already see the mark. Never delete unmarked.
	e.Cache.SetFallback(app.Namespace, app.AppID, mark)
	target, err := e.markApp(ctx, app, mark)
	if err != nil {
		return err
	}
	deleted := 0
	for _, p := range app.Executors {
		uid := p.UID
		err := e.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case err == nil:
			deleted++
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		default:
			return fmt.Errorf("deleting executor %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	e.Metrics.EscapeApps.Inc()
	e.Metrics.EscapeEvictions.Add(float64(deleted))
	msg := fmt.Sprintf("sparkplane deleted %d executor(s) of app %s that stayed unschedulable; replacements prefer the zone instead of requiring it (%s)", deleted, app.AppID, mark)
	if target != nil && e.Recorder != nil {
		e.Recorder.Event(target, corev1.EventTypeWarning, "ZoneFallback", msg)
	}
	e.Log.Info("availability escape", "namespace", app.Namespace, "app", app.AppID, "deleted", deleted, "mark", mark)
	return nil
}

// markApp annotates the driver, or without a driver pod the app's bound
// executors (their siblings are what client-mode pod affinity follows). It
// returns the object to attach the event to.
func (e *Escape) markApp(ctx context.Context, app placement.StuckApp, mark string) (*corev1.Pod, error) {
	targets := placement.MarkTargets(e.Cache.appPods(app.Namespace, app.AppID))
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{placement.AnnotationZoneFallback: mark}}})
	if err != nil {
		return nil, fmt.Errorf("encoding mark: %w", err)
	}
	for _, p := range targets {
		if p.Annotations[placement.AnnotationZoneFallback] != "" {
			continue
		}
		if _, err := e.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("marking %s/%s with %s: %w", p.Namespace, p.Name, placement.AnnotationZoneFallback, err)
		}
	}
	if len(targets) > 0 {
		return targets[0], nil
	}
	if len(app.Executors) > 0 {
		return app.Executors[0], nil
	}
	return nil, nil
}
