// Package kubelet is a process-based kubelet for the virtual nodes of a
// local cluster (a sparkplane control plane without Docker): it runs the
// pods bound to its node as processes on this machine, so that real Spark
// drivers and executors run against a real kube-apiserver.
//
// What it does, and where it differs from a real kubelet:
//
//   - Spark driver and executor pods run as real processes, translated from
//     the container spec the way the apache/spark image's entrypoint.sh
//     does (see buildCommand); container paths (volume mounts, /opt/spark)
//     are rewritten to local ones. All other pods are only marked Running:
//     there is no container runtime and no image.
//   - Each pod gets a loopback address of its own (IPPool) as its pod IP,
//     so drivers and executors on "different nodes" can all bind their
//     fixed ports. Cluster DNS is replaced by a per-pod hosts file given to
//     every JVM (-Djdk.net.hosts.file), which maps the Services of the
//     pod's namespace to the IPs of the running pods they select.
//   - ConfigMap and emptyDir volumes are directories under the pod's
//     directory (PodDir); other volume types fail the pod. Pods that use
//     Secrets fail: this kubelet never reads Secrets.
//   - Containers are not restarted, init containers are not run, probes are
//     ignored, and the process group of a pod is its only isolation.
//   - Processes are stopped when Run returns. If the program dies without
//     Run returning, they keep running.
package kubelet
