package localcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// MarkerFile marks a directory as a local cluster's: sparkplane writes it
// into the (new or empty) directory it claims, records in it what it
// creates there, and holds an exclusive flock on it while the cluster runs.
const MarkerFile = ".sparkplane-cluster"

// Entries of a cluster directory, all created by sparkplane.
const (
	kubeconfigFile = "kubeconfig"
	nodesDir       = "nodes"
	logsDir        = "logs"
	jobsDir        = "jobs"
	eventsDir      = "events"
	tlsCert        = "tls.crt"
	tlsKey         = "tls.key"
	karpenterDir   = "karpenter" // instance types and pools given to Karpenter
)

// createdEntries is what a cluster writes into its directory; --recreate
// removes these and nothing else.
var createdEntries = []string{kubeconfigFile, nodesDir, logsDir, jobsDir, eventsDir, tlsCert, tlsKey, karpenterDir}

// ErrClusterExists is returned by Start for a directory that holds an
// earlier cluster when Options.Recreate is false.
var ErrClusterExists = errors.New("directory holds an earlier local cluster")

// ErrDirInUse is returned by Start for a directory whose cluster runs.
var ErrDirInUse = errors.New("directory is in use by a running local cluster")

// ErrForeignDir is returned by Start for a directory that is neither empty
// nor a local cluster's.
var ErrForeignDir = errors.New("directory holds files sparkplane did not create")

// marker is the content of MarkerFile.
type marker struct {
	// Note tells a reader what the file is.
	Note string `json:"note"`
	// Created are the entries sparkplane may have created in the directory;
	// --recreate removes them (only names of createdEntries are honoured).
	Created []string `json:"created"`
	// PID is the process that last ran the cluster (and may still).
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// clusterDir is a claimed cluster directory: its marker stays flocked until
// release.
type clusterDir struct {
	path string
	lock *os.File
}

// ComponentLogPath is where Start writes the components' logs when
// Options.LogWriter is nil.
func ComponentLogPath(dir string) string { return filepath.Join(dir, logsDir, "components.log") }

// claimDir makes dir the new cluster's directory. It accepts a missing or
// empty directory, or one with MarkerFile (an earlier cluster's, replaced
// only if recreate). It refuses anything else without writing there, and
// fails at once if another process holds the directory's lock.
func claimDir(dir string, recreate bool) (_ *clusterDir, retErr error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--dir %s: %w", dir, err)
	}
	names, err := entries(dir)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, MarkerFile) && len(names) > 0 && !unmarkedCluster(names) {
		return nil, foreignError(dir, names)
	}

	path := filepath.Join(dir, MarkerFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--dir %s: creating %s: %w", dir, MarkerFile, err)
	}
	defer func() {
		if retErr != nil {
			f.Close()
		}
	}()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--dir %s: %w (pid %s); stop that cluster (Ctrl-C) first or pick another --dir", dir, ErrDirInUse, holderPID(f))
		}
		return nil, fmt.Errorf("--dir %s: locking %s: %w", dir, MarkerFile, err)
	}

	// Decide again under the lock: another process may have come and gone.
	var m marker
	data, err := readAll(f)
	if err != nil {
		return nil, err
	}
	switch {
	case len(data) == 0:
		// This process created the marker. The directory must be empty, or
		// hold only what a cluster of a sparkplane without markers wrote.
		if names, err = entries(dir); err != nil {
			return nil, err
		}
		names = slices.DeleteFunc(names, func(n string) bool { return n == MarkerFile })
		switch {
		case len(names) > 0 && !unmarkedCluster(names):
			_ = os.Remove(path)
			return nil, foreignError(dir, names)
		case len(names) > 0 && !recreate:
			_ = os.Remove(path)
			return nil, existsError(dir)
		}
		for _, name := range names {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("--recreate: removing %s: %w", filepath.Join(dir, name), err)
			}
		}
	case json.Unmarshal(data, &m) != nil:
		return nil, fmt.Errorf("--dir %s: %s is not sparkplane's (it does not parse); pick another --dir", dir, MarkerFile)
	case !recreate:
		return nil, existsError(dir)
	default:
		for _, name := range m.Created {
			// Only names sparkplane itself writes, whatever the file says.
			if !slices.Contains(createdEntries, name) {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("--recreate: removing %s: %w", filepath.Join(dir, name), err)
			}
		}
	}

	m = marker{
		Note:    "a sparkplane local cluster's directory; 'sparkplane local up --recreate' removes what 'created' lists, nothing else",
		Created: createdEntries, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second),
	}
	data, err = json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(0); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.WriteAt(append(data, '\n'), 0); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &clusterDir{path: dir, lock: f}, nil
}

// release lets another cluster use the directory; its files stay.
func (d *clusterDir) release() {
	if d != nil && d.lock != nil {
		d.lock.Close() // closing drops the flock
		d.lock = nil
	}
}

func entries(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--dir %s: %w", dir, err)
	}
	names := make([]string, len(des))
	for i, de := range des {
		names[i] = de.Name()
	}
	return names, nil
}

// unmarkedCluster tells a directory of a cluster started by a sparkplane
// without markers: what every start wrote (kubeconfig and the webhook's
// TLS files) is there, and nothing a cluster does not write.
func unmarkedCluster(names []string) bool {
	for _, n := range names {
		if !slices.Contains(createdEntries, n) {
			return false
		}
	}
	for _, n := range []string{kubeconfigFile, tlsCert, tlsKey} {
		if !slices.Contains(names, n) {
			return false
		}
	}
	return true
}

func existsError(dir string) error {
	return fmt.Errorf("--dir %s: %w (its pods' logs are kept: 'sparkplane local logs --dir %s POD'); "+
		"add --recreate to delete that cluster's files and start a new one, or pick another --dir", dir, ErrClusterExists, dir)
}

func foreignError(dir string, names []string) error {
	shown := names
	if len(shown) > 3 {
		shown = append(shown[:3:3], "...")
	}
	return fmt.Errorf("--dir %s: %w (%s); sparkplane neither uses nor removes such a directory: pick a new or empty one",
		dir, ErrForeignDir, strings.Join(shown, ", "))
}

func readAll(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return buf, nil
}

func holderPID(f *os.File) string {
	var m marker
	if data, err := readAll(f); err == nil && json.Unmarshal(data, &m) == nil && m.PID != 0 {
		return fmt.Sprint(m.PID)
	}
	return "unknown"
}

// Running reports whether a local cluster runs in dir, i.e. a process holds
// the lock of its MarkerFile, and which process ("unknown" if not said).
func Running(dir string) (bool, string) {
	f, err := os.Open(filepath.Join(dir, MarkerFile))
	if err != nil {
		return false, ""
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK), holderPID(f)
	}
	return false, "" // closing f drops this probe's lock
}
