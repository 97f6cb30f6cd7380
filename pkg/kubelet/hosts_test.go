package kubelet

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRenderHosts(t *testing.T) {
	tests := []struct {
		name string
		in   hostsInput
		want string
	}{
		{
			name: "executor with the driver service",
			in: hostsInput{
				Namespace: "spark", PodName: "app-exec-1", Hostname: "app-exec-1", PodIP: "127.1.0.4", MachineHostname: "laptop",
				Services: []serviceAddrs{
					{Name: "app-driver-svc", IPs: []string{"127.1.0.3"}},
					{Name: "a-svc", IPs: []string{"127.1.0.9", "127.1.0.8"}},
				},
			},
			want: "# Written by the sparkplane local kubelet: this pod's names (there is no cluster DNS).\n" +
				"127.0.0.1\tlocalhost\n" +
				"127.1.0.4\tapp-exec-1 laptop\n" +
				"127.1.0.8\ta-svc a-svc.spark a-svc.spark.svc a-svc.spark.svc.cluster.local\n" +
				"127.1.0.9\ta-svc a-svc.spark a-svc.spark.svc a-svc.spark.svc.cluster.local\n" +
				"127.1.0.3\tapp-driver-svc app-driver-svc.spark app-driver-svc.spark.svc app-driver-svc.spark.svc.cluster.local\n",
		},
		{
			name: "driver without hostname, subdomain, machine named localhost",
			in:   hostsInput{Namespace: "ns", PodName: "d", Subdomain: "sub", PodIP: "127.1.0.1", MachineHostname: "localhost"},
			want: "# Written by the sparkplane local kubelet: this pod's names (there is no cluster DNS).\n" +
				"127.0.0.1\tlocalhost\n" +
				"127.1.0.1\td d.sub.ns.svc.cluster.local d.sub.ns.svc\n",
		},
	}
	for _, tc := range tests {
		if got := string(renderHosts(tc.in)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	for _, content := range []string{"one\n", "two\n"} {
		if err := writeFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("read %q (%v), want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want only the hosts file", len(entries))
	}
}
