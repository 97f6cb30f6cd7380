package testkit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sparkplane/sparkplane/pkg/controlplane"
)

// ControlPlane is a test package's shared control plane, with its
// component logs in a file of their own.
type ControlPlane struct {
	*controlplane.ControlPlane
	// LogPath is the file the components log to.
	LogPath string
	started time.Time
	logs    *os.File
}

// StartControlPlane starts the package's control plane with opts, its
// component logs in os.TempDir()/sparkplane-<name>.log (an error names the
// file). Stop ends it and closes the log.
func StartControlPlane(ctx context.Context, name string, opts controlplane.Options) (*ControlPlane, error) {
	c := &ControlPlane{LogPath: filepath.Join(os.TempDir(), "sparkplane-"+name+".log"), started: time.Now()}
	var err error
	if c.logs, err = os.Create(c.LogPath); err != nil {
		return nil, fmt.Errorf("creating the component log: %w", err)
	}
	opts.LogWriter = c.logs
	if c.ControlPlane, err = controlplane.Start(ctx, opts); err != nil {
		c.logs.Close()
		return nil, fmt.Errorf("starting control plane (logs in %s): %w", c.LogPath, err)
	}
	return c, nil
}

// Ready prints the line that says how long the package's set-up took and
// where the component logs are.
func (c *ControlPlane) Ready(what string) {
	fmt.Printf("%s ready in %s (component logs: %s)\n", what, time.Since(c.started).Round(time.Millisecond), c.LogPath)
}

// Stop stops the control plane and closes its log.
func (c *ControlPlane) Stop() {
	c.ControlPlane.Stop()
	c.logs.Close()
}
