package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"
	"time"
)

// CertPool is a pool of the PEM certificates in pemBytes; it fails the
// test when there are none.
func CertPool(t testing.TB, pemBytes []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no PEM certificate in %q", pemBytes)
	}
	return p
}

// HTTPSGet fetches url over TLS and returns the status, the body and the
// server's certificate. With a nil pool it does not verify, like a kubelet
// probe; otherwise it verifies the server against pool for serverName
// (when set), like the API server calling a webhook Service.
func HTTPSGet(url string, pool *x509.CertPool, serverName string) (int, string, *x509.Certificate, error) {
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12, InsecureSkipVerify: pool == nil} //nolint:gosec // probes do not verify
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var peer *x509.Certificate
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		peer = resp.TLS.PeerCertificates[0]
	}
	return resp.StatusCode, string(body), peer, nil
}
