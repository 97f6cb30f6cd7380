// Package autoscaler runs the real Karpenter (its KWOK cloud provider, built
// by hack/karpenter.sh) as a child process against a real etcd,
// kube-apiserver and kube-scheduler started once for the package, with the
// CRDs, KWOKNodeClass, NodePool and instance types sparkplane generates
// (pkg/karpenter).
package autoscaler

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/karpenter"
	"github.com/sparkplane/sparkplane/test/testkit"
)

// The cluster's zones; spot is not offered in noSpotZone.
var zones = []string{"zone-a", "zone-b", "zone-c"}

const (
	noSpotZone = "zone-c"
	nodeClass  = "kwok"
	nodePool   = "default"
)

// env is the package's control plane and Karpenter.
type env struct {
	cp      *controlplane.ControlPlane
	dyn     dynamic.Interface
	karp    *karpenterProcess
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
		bin, err := buildKarpenter(ctx)
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
	if err := applyCRDs(setupCtx, dyn, filepath.Join(filepath.Dir(b.bin), "crds")); err != nil {
		return 1, err
	}
	if err := applyPoolAndClass(setupCtx, dyn); err != nil {
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
	karp, err := startKarpenter(setupCtx, b.bin, kubeconfig, typesFile, logFile)
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := karp.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping Karpenter:", err)
		}
	}()

	// No kubelets here: a stand-in marks Karpenter's nodes Ready, which is
	// all Karpenter waits for to initialize them.
	readyCtx, stopReady := context.WithCancel(ctx)
	readyDone := make(chan struct{})
	go func() { defer close(readyDone); markKWOKNodesReady(readyCtx, cp.Client) }()
	defer func() { stopReady(); <-readyDone }()

	cp.Ready("control plane and Karpenter " + karp.version)
	shared = &env{cp: cp.ControlPlane, dyn: dyn, karp: karp, logFile: logFile}
	return m.Run(), nil
}

// buildKarpenter runs hack/karpenter.sh (a no-op once built) and returns the
// binary's path; its progress lines go to stderr.
func buildKarpenter(ctx context.Context) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "../../hack/karpenter.sh")
	cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/karpenter.sh: %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
