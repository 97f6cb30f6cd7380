package localcluster

import (
	"fmt"
	"path/filepath"
	"sort"

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
