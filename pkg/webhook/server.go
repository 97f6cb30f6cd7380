package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Paths served on the secure port.
const (
	PathMutate  = "/mutate-pods"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// How often a server without a certificate looks for one, and how often it
// says that it is still waiting.
const (
	certPollInterval    = time.Second
	certWaitLogInterval = 10 * time.Second
)

// ServerOptions follow Kubernetes component flag conventions.
type ServerOptions struct {
	BindAddress string // --bind-address
	SecurePort  int    // --secure-port; 0 picks a free port
	CertFile    string // --tls-cert-file
	KeyFile     string // --tls-private-key-file
}

// Server is the HTTPS server. Its certificate files are watched and
// reloaded on change, so rotated certificates need no restart.
//
// The files may not exist yet when the server starts: a freshly created,
// empty Secret mounted as a volume projects no files (or empty ones) until
// `sparkplane certs` or cert-manager fills it. Until a valid pair appears the
// server answers with a throw-away self-signed certificate that no client
// trusts, so kubelet probes still reach /healthz (alive) and /readyz (not
// ready, see CertReady) instead of timing out and restarting the pod.
type Server struct {
	ln          net.Listener
	srv         *http.Server
	opts        ServerOptions
	cw          atomic.Pointer[certwatcher.CertWatcher]
	placeholder func() (*tls.Certificate, error)
	log         logr.Logger
}

// NewServer checks the flags and binds the port. It loads the certificate
// if it is already there; otherwise Run waits for it. Empty flags and
// directories that do not exist fail here.
func NewServer(opts ServerOptions, mux *http.ServeMux, log logr.Logger) (*Server, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("--tls-cert-file and --tls-private-key-file are required: the API server only calls webhooks over HTTPS")
	}
	// A mounted Secret volume's directory exists even while the Secret is
	// empty, so a missing directory is a wrong flag, not a wait.
	for _, f := range []struct{ flag, path string }{{"--tls-cert-file", opts.CertFile}, {"--tls-private-key-file", opts.KeyFile}} {
		if fi, err := os.Stat(filepath.Dir(f.path)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s %s: directory %s does not exist; point it into the mounted TLS Secret (the files may be missing at first: the server waits for them)", f.flag, f.path, filepath.Dir(f.path))
		}
	}
	// The certwatcher logs through controller-runtime's process-global
	// logger; without one it prints a warning with a stack trace.
	ctrllog.SetLogger(klog.NewKlogr())
	addr := net.JoinHostPort(opts.BindAddress, strconv.Itoa(opts.SecurePort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s (--bind-address, --secure-port): %w", addr, err)
	}
	s := &Server{ln: ln, opts: opts, log: log, placeholder: sync.OnceValues(newPlaceholderCert)}
	if cw, err := certwatcher.New(opts.CertFile, opts.KeyFile); err == nil {
		s.cw.Store(cw)
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.getCertificate},
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CertReady reports whether the server has loaded its certificate and
// key; until then it is not ready to serve the API server.
func (s *Server) CertReady() bool { return s.cw.Load() != nil }

func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cw := s.cw.Load(); cw != nil {
		return cw.GetCertificate(hello)
	}
	return s.placeholder()
}

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		s.watchCertificate(ctx)
	}()
	defer func() { cancel(); <-watchDone }()
	errc := make(chan error, 1)
	go func() { errc <- s.srv.ServeTLS(s.ln, "", "") }()
	s.log.Info("serving", "address", s.Addr(), "paths", []string{PathMutate, PathHealthz, PathReadyz, PathMetrics})
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTPS: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShutdown()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// watchCertificate waits for a valid certificate if there is none yet, then
// runs the certwatcher, which reloads the files when they change (the
// kubelet swaps a symlink on each Secret update). If the watcher stops
// early (its files vanished), it waits and starts over.
func (s *Server) watchCertificate(ctx context.Context) {
	for ctx.Err() == nil {
		cw := s.cw.Load()
		if cw == nil {
			if cw = s.waitForCertificate(ctx); cw == nil {
				return
			}
			s.cw.Store(cw)
			s.log.Info("TLS certificate loaded; serving it", "certFile", s.opts.CertFile, "keyFile", s.opts.KeyFile)
		}
		if err := cw.Start(ctx); err != nil && ctx.Err() == nil {
			s.log.Error(err, "certificate watcher stopped; restarting it", "certFile", s.opts.CertFile)
			select {
			case <-ctx.Done():
			case <-time.After(certWaitLogInterval):
			}
			// Keep serving the loaded certificate; load a fresh watcher.
			if next, err := certwatcher.New(s.opts.CertFile, s.opts.KeyFile); err == nil {
				s.cw.Store(next)
			}
		}
	}
}

// waitForCertificate polls for a loadable certificate and key, logging
// every certWaitLogInterval why it is still waiting. It returns nil when
// ctx ends first.
func (s *Server) waitForCertificate(ctx context.Context) *certwatcher.CertWatcher {
	poll := time.NewTicker(certPollInterval)
	defer poll.Stop()
	var lastLog time.Time
	for {
		cw, err := certwatcher.New(s.opts.CertFile, s.opts.KeyFile)
		if err == nil {
			return cw
		}
		if time.Since(lastLog) >= certWaitLogInterval {
			s.log.Info(fmt.Sprintf("waiting for TLS certificate at %s and key at %s (filled by `sparkplane certs` or cert-manager)", s.opts.CertFile, s.opts.KeyFile),
				"reason", s.waitReason(err))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		}
	}
}

func (s *Server) waitReason(loadErr error) string {
	for _, f := range []string{s.opts.CertFile, s.opts.KeyFile} {
		switch fi, err := os.Stat(f); {
		case errors.Is(err, os.ErrNotExist):
			return f + " does not exist yet"
		case err == nil && fi.Size() == 0:
			return f + " is empty"
		}
	}
	return loadErr.Error()
}

// newPlaceholderCert makes the self-signed certificate served while the
// real one is missing. ECDSA keeps its generation instant.
func newPlaceholderCert() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating placeholder key: %w", err)
	}
	c, err := cert.NewSelfSignedCACert(cert.Config{CommonName: "sparkplane-webhook-waiting-for-certificate"}, key)
	if err != nil {
		return nil, fmt.Errorf("generating placeholder certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, nil
}
