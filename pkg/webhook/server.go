package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"
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

// ServerOptions follow Kubernetes component flag conventions.
type ServerOptions struct {
	BindAddress string // --bind-address
	SecurePort  int    // --secure-port; 0 picks a free port
	CertFile    string // --tls-cert-file
	KeyFile     string // --tls-private-key-file
}

// Server is the HTTPS server. Its certificate files are watched and
// reloaded on change, so rotated certificates need no restart.
type Server struct {
	ln  net.Listener
	srv *http.Server
	cw  *certwatcher.CertWatcher
	log logr.Logger
}

// NewServer loads the certificate (failing now if it is unreadable) and
// binds the port.
func NewServer(opts ServerOptions, mux *http.ServeMux, log logr.Logger) (*Server, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("--tls-cert-file and --tls-private-key-file are required: the API server only calls webhooks over HTTPS")
	}
	// The certwatcher logs through controller-runtime's process-global
	// logger; without one it prints a warning with a stack trace.
	ctrllog.SetLogger(klog.NewKlogr())
	cw, err := certwatcher.New(opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate %s / key %s: %w", opts.CertFile, opts.KeyFile, err)
	}
	addr := net.JoinHostPort(opts.BindAddress, strconv.Itoa(opts.SecurePort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s (--bind-address, --secure-port): %w", addr, err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cw.GetCertificate},
	}
	return &Server{ln: ln, srv: srv, cw: cw, log: log}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	go func() {
		if err := s.cw.Start(ctx); err != nil {
			s.log.Error(err, "certificate watcher stopped")
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- s.srv.ServeTLS(s.ln, "", "") }()
	s.log.Info("serving", "address", s.Addr(), "paths", []string{PathMutate, PathHealthz, PathReadyz, PathMetrics})
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTPS: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
