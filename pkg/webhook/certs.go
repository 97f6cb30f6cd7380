package webhook

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/util/cert"
)

// WriteSelfSignedCert writes a self-signed serving certificate for host
// (a DNS name or IP) to dir/tls.crt and dir/tls.key, and returns the paths
// and the CA bundle to put in a webhook configuration. It is for local
// clusters and tests; installs use the Helm chart's certificates.
func WriteSelfSignedCert(dir, host string) (certFile, keyFile string, caBundle []byte, err error) {
	var ips []net.IP
	var names []string
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else {
		names = append(names, host)
	}
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey(host, ips, names)
	if err != nil {
		return "", "", nil, fmt.Errorf("generating certificate for %s: %w", host, err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", nil, fmt.Errorf("writing %s: %w", certFile, err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", nil, fmt.Errorf("writing %s: %w", keyFile, err)
	}
	// The first PEM block is the serving cert, the second its self-signed CA.
	return certFile, keyFile, certPEM, nil
}

// NewLocal builds a webhook serving on 127.0.0.1 (a free port) with a fresh
// self-signed certificate in dir, for local clusters, tests and benchmarks.
// It returns the webhook, its admission URL and the CA bundle to register.
func NewLocal(opts Options, dir string) (*Webhook, string, []byte, error) {
	certFile, keyFile, ca, err := WriteSelfSignedCert(dir, "127.0.0.1")
	if err != nil {
		return nil, "", nil, err
	}
	opts.Server = ServerOptions{BindAddress: "127.0.0.1", CertFile: certFile, KeyFile: keyFile}
	w, err := New(opts)
	if err != nil {
		return nil, "", nil, err
	}
	return w, "https://" + w.Addr() + PathMutate, ca, nil
}
