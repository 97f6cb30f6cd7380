package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

const (
	etcdStartAttempts = 5
	etcdReadyTimeout  = 60 * time.Second
)

// startEtcd starts a single-member embedded etcd listening on free loopback
// ports with its data below dataDir. Port 0 cannot be used: etcd's internal
// gateway would dial 127.0.0.1:0, so free ports are picked up front and the
// start is retried if another process grabbed one in between.
func startEtcd(ctx context.Context, dataDir string, lg *zap.Logger) (*embed.Etcd, string, error) {
	var lastErr error
	for attempt := 1; attempt <= etcdStartAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		e, clientURL, err := startEtcdOnce(ctx, filepath.Join(dataDir, fmt.Sprintf("etcd-%d", attempt)), lg)
		if err == nil {
			return e, clientURL, nil
		}
		lastErr = err
		if !isAddrInUse(err) {
			break
		}
	}
	return nil, "", lastErr
}

func startEtcdOnce(ctx context.Context, dir string, lg *zap.Logger) (*embed.Etcd, string, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", fmt.Errorf("picking free ports: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("creating data dir: %w", err)
	}
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}

	cfg := embed.NewConfig()
	cfg.Name = "sparkplane"
	cfg.Dir = dir
	cfg.UnsafeNoFsync = true
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	timer := time.NewTimer(etcdReadyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd failed while starting: %w", err)
	case <-timer.C:
		e.Close()
		return nil, "", fmt.Errorf("etcd not ready after %v", etcdReadyTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, "", ctx.Err()
	}
	return e, clientURL.String(), nil
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}
