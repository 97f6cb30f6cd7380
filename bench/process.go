package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
	"github.com/sparkplane/sparkplane/pkg/webhook"
)

const childCommand = "__sparkplane"

// webhookProcess is `sparkplane webhook` running as a child process.
type webhookProcess struct {
	cmd    *exec.Cmd
	url    string
	base   string
	ca     []byte
	client *http.Client
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startWebhookProcess(ctx context.Context, cp *controlplane.ControlPlane, dir string, logs io.Writer) (*webhookProcess, error) {
	certFile, keyFile, ca, err := webhook.WriteSelfSignedCert(dir, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, childCommand, "webhook", "--kubeconfig", kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting webhook process: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	w := &webhookProcess{
		cmd: cmd, ca: ca, base: fmt.Sprintf("https://127.0.0.1:%d", port),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	w.url = w.base + webhook.PathMutate
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := w.client.Get(w.base + webhook.PathReadyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w, nil
			}
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, fmt.Errorf("webhook process not ready after a minute (last error: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiRequests reads sparkplane_kube_api_requests_total from the process's
// /metrics, informer watches aside (long-lived streams client-go re-opens on
// its own schedule).
func (w *webhookProcess) apiRequests() (int64, error) {
	resp, err := w.client.Get(w.base + webhook.PathMetrics)
	if err != nil {
		return 0, fmt.Errorf("reading webhook metrics: %w", err)
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "sparkplane_kube_api_requests_total{") || strings.Contains(line, `method="WATCH"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %q: %w", line, err)
		}
		total += v
	}
	return int64(total), sc.Err()
}

func (w *webhookProcess) stop() {
	_ = w.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
	}
}
