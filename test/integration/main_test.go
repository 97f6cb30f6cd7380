// Package integration runs sparkplane against a real etcd, kube-apiserver
// and kube-scheduler started in-process once for the package, with the real
// webhook registered with the API server over TLS.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/webhook"
	"github.com/sparkplane/sparkplane/test/testkit"
)

// env is the shared control plane and webhook of this package.
type env struct {
	cp       *controlplane.ControlPlane
	wh       *webhook.Webhook
	cfg      *v1alpha1.SparkplaneConfiguration
	url      string
	caBundle []byte
	logFile  string
}

var shared *env

// Escape timings are short so the availability test runs in seconds.
const (
	escapeWindow   = 4 * time.Second
	escapeInterval = time.Second
)

func TestMain(m *testing.M) {
	testkit.Main(m, "integration setup", run)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "sparkplane-integration-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	cp, err := testkit.StartControlPlane(ctx, "integration", controlplane.Options{Scheduler: true})
	if err != nil {
		return 1, err
	}
	defer cp.Stop()

	cfg := v1alpha1.Default()
	cfg.AvailabilityEscape.Enabled = true
	cfg.AvailabilityEscape.Window.Duration = escapeWindow
	cfg.AvailabilityEscape.Interval.Duration = escapeInterval
	wh, url, ca, err := webhook.NewLocal(webhook.Options{Config: cfg, RestConfig: cp.Config, Log: klog.NewKlogr().WithName("webhook")}, dir)
	if err != nil {
		return 1, err
	}
	whCtx, stopWebhook := context.WithCancel(ctx)
	whDone := make(chan error, 1)
	go func() { whDone <- wh.Run(whCtx) }()
	defer func() { stopWebhook(); <-whDone }()

	if err := cp.RegisterMutatingWebhook(ctx, "sparkplane", url, ca); err != nil {
		return 1, err
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	if err := cp.WaitForWebhook(waitCtx, func(p *corev1.Pod) bool { return p.Annotations[placement.AnnotationDecision] != "" }); err != nil {
		return 1, fmt.Errorf("webhook never became active: %w", err)
	}
	cp.Ready("control plane and webhook")
	shared = &env{cp: cp.ControlPlane, wh: wh, cfg: cfg, url: url, caBundle: ca, logFile: cp.LogPath}
	return m.Run(), nil
}

// namespace is a namespace of the test's own (see ControlPlane.Namespace).
func namespace(t *testing.T) string { return shared.cp.Namespace(t) }
