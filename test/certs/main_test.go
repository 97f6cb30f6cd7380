// Package certs tests the self-managed webhook certificates against a real
// etcd and kube-apiserver with RBAC enforced: `sparkplane certs` runs as a
// ServiceAccount holding only the name-restricted permissions of the Helm
// chart, the kubelet's own secret-volume code projects the Secret into
// directories, and the webhook server serves from them.
package certs

import (
	"context"
	"testing"
	"time"

	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/test/testkit"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	testkit.Main(m, "certs test setup", run)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The test apiserver allows everything unless told otherwise; the point
	// here is least privilege, so enforce RBAC.
	c, err := testkit.StartControlPlane(ctx, "certs-test", controlplane.Options{ExtraAPIServerFlags: []string{"--authorization-mode=Node,RBAC"}})
	if err != nil {
		return 1, err
	}
	defer c.Stop()
	cp = c.ControlPlane
	// cert-controller and the certwatcher log through controller-runtime's
	// global logger; route it to klog, which the control plane captures.
	ctrllog.SetLogger(klog.NewKlogr())
	c.Ready("control plane")
	return m.Run(), nil
}
