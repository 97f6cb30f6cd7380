// Package controlplane starts a real Kubernetes control plane in-process:
// an embedded etcd, a kube-apiserver (built from k8s.io/kubernetes) and,
// optionally, a kube-scheduler (pkg/kubescheduler). There is no kubelet and no
// controller-manager: nodes are plain API objects (see CreateNode) and pods
// get bound by the scheduler but never run.
//
// The harness works both inside `go test` and in ordinary programs (for
// example `sparkplane local up`). Binaries using it must not be built with
// -trimpath: the apiserver test server locates its fixture certificates
// through the source path recorded in the binary.
//
// Logging: klog is process-global. The first Start (unless
// Options.SkipKlogSetup is set) installs a klog logger that writes to a
// process-wide switch; every Start points that switch at its own
// Options.LogWriter and Stop detaches it again, so no log line is written to
// a writer after the ControlPlane that owns it has been stopped. This switch
// is the only package-level state and exists solely because klog is global.
package controlplane
