package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
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

// The server picks up a rotated certificate without a restart.
func TestServerReloadsRotatedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, caPEM, err := WriteSelfSignedCert(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(PathHealthz, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv, err := NewServer(ServerOptions{BindAddress: "127.0.0.1", CertFile: certFile, KeyFile: keyFile}, mux, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	for i := 0; i < 50; i++ {
		if resp, err = client.Get("https://" + srv.Addr() + PathHealthz); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz over verified TLS: %v %v", resp, err)
	}
	resp.Body.Close()

	before := servedCertSerial(t, srv.Addr())
	if _, _, _, err := WriteSelfSignedCert(dir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for servedCertSerial(t, srv.Addr()) == before {
		if time.Now().After(deadline) {
			t.Fatal("rotated certificate was not served within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestServerRejectsMissingCertificate(t *testing.T) {
	_, err := NewServer(ServerOptions{BindAddress: "127.0.0.1", CertFile: "/nonexistent/tls.crt", KeyFile: "/nonexistent/tls.key"}, http.NewServeMux(), logr.Discard())
	if err == nil {
		t.Fatal("want error for missing certificate")
	}
	if _, err := NewServer(ServerOptions{}, http.NewServeMux(), logr.Discard()); err == nil {
		t.Fatal("want error without --tls-cert-file")
	}
}
