// Package autoscaler runs the real Karpenter (its KWOK cloud provider, built
// by hack/karpenter.sh) as a child process against a real etcd,
// kube-apiserver and kube-scheduler started once for the package, with the
// CRDs, KWOKNodeClass, NodePool and instance types sparkplane generates
// (pkg/karpenter).
package autoscaler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/pkg/localcluster"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/webhook"
	"github.com/sparkplane/sparkplane/test/testkit"
)

// The cluster's zones; spot is not offered in noSpotZone.
var zones = []string{"zone-a", "zone-b", "zone-c"}

const (
	// escapeWindow is the webhook's availability escape window: short, so
	// the escape test runs in seconds.
	escapeWindow = 10 * time.Second
	noSpotZone   = "zone-c"
	nodeClass    = "kwok"
	nodePool     = "default"
)

// env is the package's control plane and Karpenter.
type env struct {
	cp      *controlplane.ControlPlane
	dyn     dynamic.Interface
	karp    *localcluster.KarpenterProcess
	logFile string
}

var shared *env

func TestMain(m *testing.M) {
	testkit.Main(m, "autoscaler setup", run)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "sparkplane-autoscaler-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)

	// Karpenter's first build takes minutes: run it while the control plane
	// starts. A failed build fails the package with the script's error.
	type built struct {
		bin string
		err error
	}
	buildc := make(chan built, 1)
	go func() {
		bin, err := localcluster.BuildKarpenter(ctx, os.Stderr)
		buildc <- built{bin, err}
	}()

	cp, err := testkit.StartControlPlane(ctx, "autoscaler", controlplane.Options{Scheduler: true})
	if err != nil {
		return 1, err
	}
	defer cp.Stop()
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		return 1, err
	}
	b := <-buildc
	if b.err != nil {
		return 1, b.err
	}

	setupCtx, cancelSetup := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelSetup()
	if err := localcluster.ApplyKarpenterCRDs(setupCtx, dyn, localcluster.KarpenterCRDDir(b.bin)); err != nil {
		return 1, err
	}
	// One pool that may launch spot and on-demand nodes in every zone.
	pool := karpenter.NodePoolOptions{Name: nodePool, ConsolidationPolicy: karpenter.ConsolidateWhenEmpty, ConsolidateAfter: "Never"}
	if err := localcluster.ApplyNodeClassAndPools(setupCtx, dyn, karpenter.NodeClassOptions{Name: nodeClass}, []karpenter.NodePoolOptions{pool}); err != nil {
		return 1, err
	}
	typesFile := filepath.Join(dir, "instance-types.json")
	data, err := karpenter.InstanceTypesJSON(karpenter.CatalogOptions{Zones: zones, NoSpotZones: []string{noSpotZone}})
	if err != nil {
		return 1, err
	}
	if err := os.WriteFile(typesFile, data, 0o600); err != nil {
		return 1, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		return 1, err
	}
	logFile := filepath.Join(os.TempDir(), "sparkplane-autoscaler-karpenter.log")
	karp, err := localcluster.StartKarpenter(setupCtx, localcluster.KarpenterProcessOptions{
		Binary: b.bin, Kubeconfig: kubeconfig, InstanceTypesFile: typesFile, LogPath: logFile, LogLevel: "debug",
	})
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := karp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping Karpenter:", err)
		}
	}()

	// No kubelets here: a stand-in marks Karpenter's nodes Ready, which is
	// all Karpenter waits for to initialize them.
	readyCtx, stopReady := context.WithCancel(ctx)
	readyDone := make(chan struct{})
	go func() { defer close(readyDone); markKWOKNodesReady(readyCtx, cp.Client) }()
	defer func() { stopReady(); <-readyDone }()

	// The sparkplane webhook, with a short availability escape, as the
	// chart would run it next to Karpenter.
	cfg := v1alpha1.Default()
	cfg.AvailabilityEscape.Enabled = true
	cfg.AvailabilityEscape.Window.Duration = escapeWindow
	cfg.AvailabilityEscape.Interval.Duration = time.Second
	wh, url, ca, err := webhook.NewLocal(webhook.Options{Config: cfg, RestConfig: cp.Config, Log: klog.NewKlogr().WithName("webhook")}, dir)
	if err != nil {
		return 1, err
	}
	whCtx, stopWebhook := context.WithCancel(ctx)
	whDone := make(chan error, 1)
	go func() { whDone <- wh.Run(whCtx) }()
	defer func() { stopWebhook(); <-whDone }()
	if err := cp.RegisterMutatingWebhook(setupCtx, "sparkplane", url, ca); err != nil {
		return 1, err
	}
	if err := cp.WaitForWebhook(setupCtx, func(p *corev1.Pod) bool { return p.Annotations[placement.AnnotationDecision] != "" }); err != nil {
		return 1, fmt.Errorf("webhook never became active: %w", err)
	}

	cp.Ready("control plane, webhook and Karpenter " + karp.Version)
	shared = &env{cp: cp.ControlPlane, dyn: dyn, karp: karp, logFile: logFile}
	return m.Run(), nil
}
