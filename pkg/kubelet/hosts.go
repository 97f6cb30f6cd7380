package kubelet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// serviceAddrs is a Service and the IPs of the running pods it selects.
type serviceAddrs struct {
	Name string
	IPs  []string
}

// hostsInput is what a pod's hosts file says.
type hostsInput struct {
	Namespace string
	PodName   string
	// Hostname and Subdomain are the pod's spec.hostname (default: its
	// name) and spec.subdomain.
	Hostname  string
	Subdomain string
	PodIP     string
	// MachineHostname is this machine's hostname: a JVM's
	// InetAddress.getLocalHost() looks it up, and inside a pod it would be
	// the pod's own name.
	MachineHostname string
	Services        []serviceAddrs
}

// renderHosts returns the pod's hosts file, read by every JVM of the pod
// through -Djdk.net.hosts.file (which replaces all other name lookups, so
// it must name everything the pod resolves): localhost; the pod's own
// names; and for each Service of the namespace that selects running pods,
// the cluster DNS names <svc>, <svc>.<ns>, <svc>.<ns>.svc and
// <svc>.<ns>.svc.cluster.local. A Service resolves to its pods' IPs as a
// headless Service would; there is no service proxy, so a Service's port
// must equal its target port (Spark's driver Service is headless and uses
// the same ports).
func renderHosts(in hostsInput) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by the sparkplane local kubelet: this pod's names (there is no cluster DNS).\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	hostname := in.Hostname
	if hostname == "" {
		hostname = in.PodName
	}
	// The first name is what a reverse lookup of the pod IP returns.
	names := []string{hostname}
	if in.Subdomain != "" {
		fqdn := fmt.Sprintf("%s.%s.%s.svc", hostname, in.Subdomain, in.Namespace)
		names = append(names, fqdn+".cluster.local", fqdn)
	}
	names = append(names, in.PodName, in.MachineHostname)
	if in.PodIP != "" {
		fmt.Fprintf(&b, "%s\t%s\n", in.PodIP, strings.Join(dedupNames(names), " "))
	}
	svcs := append([]serviceAddrs(nil), in.Services...)
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	for _, s := range svcs {
		ips := append([]string(nil), s.IPs...)
		sort.Strings(ips)
		for _, ip := range ips {
			fmt.Fprintf(&b, "%s\t%s %s.%s %s.%s.svc %s.%s.svc.cluster.local\n",
				ip, s.Name, s.Name, in.Namespace, s.Name, in.Namespace, s.Name, in.Namespace)
		}
	}
	return b.Bytes()
}

// dedupNames drops empty names, "localhost" and repeats, keeping order.
func dedupNames(names []string) []string {
	seen := map[string]bool{"": true, "localhost": true}
	var out []string
	for _, n := range names {
		if !seen[strings.ToLower(n)] {
			seen[strings.ToLower(n)] = true
			out = append(out, n)
		}
	}
	return out
}

// writeFileAtomic replaces path with data through a rename, so that a JVM
// reading the hosts file (on every lookup) never sees half of it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
