// Package deploy tests the Helm chart (deploy/helm/sparkplane) against a
// real kube-apiserver with RBAC enforced: helm lint and template, the
// rendered manifests server-side applied, and the real webhook, certs
// controller and scheduler run from the rendered arguments and
// configuration while impersonating the chart's ServiceAccounts, so they
// have exactly the chart's permissions.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkplane/sparkplane/pkg/cli"
	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/test/testkit"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../../deploy/helm/sparkplane"

// env is the package's shared control plane and helm binary.
type env struct {
	cp   *controlplane.ControlPlane
	helm string
	logs *logTail
}

var shared *env

// childEnv makes the test binary run `sparkplane` with its arguments instead
// of the tests: kube-scheduler, inside `sparkplane scheduler`, can only be
// stopped by a signal and then exits the process, so it runs as a child.
const childEnv = "SPARKPLANE_DEPLOY_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		cmd := cli.NewRootCommand()
		cmd.SetArgs(os.Args[1:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	testkit.Main(m, "deploy setup", run)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logPath := filepath.Join(os.TempDir(), "sparkplane-deploy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return 1, err
	}
	defer logFile.Close()
	logs := &logTail{w: logFile}

	// hack/helm.sh builds helm from the Go module proxy on first use (cached
	// under .cache/helm); do that while the control plane starts.
	start := time.Now()
	type built struct {
		path string
		err  error
	}
	helmc := make(chan built, 1)
	go func() {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "../../hack/helm.sh", "--print-path")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("hack/helm.sh --print-path: %w\n%s", err, stderr.String())
		}
		helmc <- built{strings.TrimSpace(string(out)), err}
	}()

	// RBAC enforced (Node,RBAC as in real clusters): the chart's roles are
	// what the components get when they impersonate its ServiceAccounts.
	cp, err := controlplane.Start(ctx, controlplane.Options{
		LogWriter:           logs,
		ExtraAPIServerFlags: []string{"--authorization-mode=Node,RBAC"},
	})
	if err != nil {
		return 1, fmt.Errorf("starting control plane (logs in %s): %w", logPath, err)
	}
	defer cp.Stop()
	if err := checkRBACEnforced(ctx, cp); err != nil {
		return 1, err
	}
	h := <-helmc
	if h.err != nil {
		return 1, h.err
	}
	fmt.Printf("control plane (RBAC enforced) and helm ready in %s (component logs: %s)\n", time.Since(start).Round(time.Millisecond), logPath)
	shared = &env{cp: cp, helm: h.path, logs: logs}
	return m.Run(), nil
}

// checkRBACEnforced makes sure a ServiceAccount without bindings is refused:
// with AlwaysAllow every permission test here would pass vacuously.
func checkRBACEnforced(ctx context.Context, cp *controlplane.ControlPlane) error {
	nobody, err := kubernetes.NewForConfig(impersonating(cp.Config, "system:serviceaccount:default:nobody"))
	if err != nil {
		return err
	}
	_, err = nobody.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1})
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("RBAC is not enforced: listing pods as an unbound ServiceAccount returned %v, want Forbidden", err)
	}
	return nil
}

// logTail writes the components' logs to a file and keeps them in memory,
// so a test can assert that a failure was logged.
type logTail struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	return l.w.Write(p)
}

// contains reports whether a log line written so far contains every part.
func (l *logTail) contains(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.buf.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
