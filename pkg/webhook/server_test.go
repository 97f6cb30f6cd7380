package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

func servedCertSerial(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // inspecting the served cert
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// startServer runs a Server with /healthz and a /readyz that reflects
// CertReady, as webhook.New wires them, until the test ends.
func startServer(t *testing.T, certFile, keyFile string) *Server {
	t.Helper()
	mux := http.NewServeMux()
	var srv *Server
	mux.HandleFunc(PathHealthz, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc(PathReadyz, func(w http.ResponseWriter, _ *http.Request) {
		if !srv.CertReady() {
			http.Error(w, "waiting for the TLS certificate files", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	srv, err := NewServer(ServerOptions{BindAddress: "127.0.0.1", CertFile: certFile, KeyFile: keyFile}, mux, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return srv
}

// get fetches path over TLS, as a kubelet probe does (no verification)
// when pool is nil, else verifying the server against pool.
func get(t *testing.T, addr, path string, pool *x509.CertPool) (int, string, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: pool, InsecureSkipVerify: pool == nil} //nolint:gosec // probes do not verify
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Get("https://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func poolOf(pemBytes []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return pool
}

// The server picks up a rotated certificate without a restart.
func TestServerReloadsRotatedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, caPEM, err := WriteSelfSignedCert(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, certFile, keyFile)
	eventually(t, "healthz over verified TLS", func() bool {
		code, _, err := get(t, srv.Addr(), PathHealthz, poolOf(caPEM))
		return err == nil && code == http.StatusOK
	})

	before := servedCertSerial(t, srv.Addr())
	if _, _, _, err := WriteSelfSignedCert(dir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rotated certificate served", func() bool { return servedCertSerial(t, srv.Addr()) != before })
}

// A server whose certificate files are missing or empty (an empty Secret
// mounted as a volume) starts, is alive but not ready, and becomes ready
// serving the real certificate once the files appear.
func TestServerWaitsForCertificateFiles(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, certFile, keyFile string)
	}{
		{"files missing", func(*testing.T, string, string) {}},
		{"files empty", func(t *testing.T, certFile, keyFile string) {
			for _, f := range []string{certFile, keyFile} {
				if err := os.WriteFile(f, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			tc.prepare(t, certFile, keyFile)
			srv := startServer(t, certFile, keyFile)
			if srv.CertReady() {
				t.Fatal("CertReady before the files exist")
			}
			if code, body, err := get(t, srv.Addr(), PathHealthz, nil); err != nil || code != http.StatusOK {
				t.Fatalf("healthz while waiting: %d %q %v, want 200", code, body, err)
			}
			if code, body, err := get(t, srv.Addr(), PathReadyz, nil); err != nil || code != http.StatusServiceUnavailable {
				t.Fatalf("readyz while waiting: %d %q %v, want 503", code, body, err)
			}

			_, _, caPEM, err := WriteSelfSignedCert(dir, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "ready over verified TLS", func() bool {
				code, _, err := get(t, srv.Addr(), PathReadyz, poolOf(caPEM))
				return err == nil && code == http.StatusOK
			})
		})
	}
}

func TestNewServerRejectsBadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		opts ServerOptions
		want string
	}{
		{ServerOptions{}, "--tls-cert-file and --tls-private-key-file are required"},
		{ServerOptions{CertFile: "tls.crt"}, "--tls-cert-file and --tls-private-key-file are required"},
		{ServerOptions{KeyFile: "tls.key"}, "--tls-cert-file and --tls-private-key-file are required"},
		{ServerOptions{CertFile: "/nonexistent/tls.crt", KeyFile: dir + "/tls.key"}, "--tls-cert-file /nonexistent/tls.crt: directory /nonexistent does not exist"},
		{ServerOptions{CertFile: dir + "/tls.crt", KeyFile: dir + "/missing/tls.key"}, "--tls-private-key-file " + dir + "/missing/tls.key: directory"},
	}
	for _, tc := range tests {
		_, err := NewServer(tc.opts, http.NewServeMux(), logr.Discard())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewServer(%+v) = %v, want error containing %q", tc.opts, err, tc.want)
		}
	}
}
