package localcluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sparkplane/sparkplane/pkg/kubelet"
)

// LogFile finds the container log of a pod in a cluster directory. The pod
// may be gone already: its directory stays until the cluster is restarted.
func LogFile(dir, namespace, pod string) (string, error) {
	pattern := filepath.Join(kubelet.PodDir(filepath.Join(dir, "nodes", "*"), namespace, pod), "container.log")
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("looking for %s: %w", pattern, err)
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("no log for pod %s/%s under %s (is the cluster directory right, and did the pod run on a process kubelet?)", namespace, pod, dir)
	}
	sort.Strings(matches)
	return matches[len(matches)-1], nil
}

// ResultLine is the "RESULT ..." line the shuffle job (jobs/shuffle.py)
// prints, from the log of the driver pod that ran it; "" if there is none.
func ResultLine(dir, namespace, driver string) (string, error) {
	path, err := LogFile(dir, namespace, driver)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening driver log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "RESULT ") {
			return line, nil
		}
	}
	return "", sc.Err()
}
