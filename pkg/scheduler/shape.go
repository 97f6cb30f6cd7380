package scheduler

import (
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/sparkplane/sparkplane/pkg/gang"
)

// Spark confs that constrain executor nodes (spark.kubernetes.node.selector.*
// applies to both roles, the executor one since Spark 3.3).
const (
	confNodeSelector     = "spark.kubernetes.node.selector."
	confExecNodeSelector = "spark.kubernetes.executor.node.selector."
)

// shapeInfo is an app's shape derived from its driver pod and conf
// ConfigMap, cached until either changes.
type shapeInfo struct {
	key      string
	shape    gang.Shape
	warnings []string
	err      error
	// confMissing names the conf ConfigMap the driver mounts that is not in
	// the cache (yet).
	confMissing string
	// execSelector is the executors' node selector from the Spark conf.
	execSelector map[string]string
}

// shapeOf derives (or returns the cached) shape of an app with a driver.
func shapeOf(a *app, cms corelisters.ConfigMapLister) *shapeInfo {
	d := a.driver
	cmName, mounted := gang.PropertiesConfigMap(d)
	var (
		props   map[string]string
		cmRV    = "-"
		missing string
		perr    error
	)
	if mounted {
		cm, err := cms.ConfigMaps(d.Namespace).Get(cmName)
		switch {
		case apierrors.IsNotFound(err):
			missing = cmName
		case err != nil:
			missing = cmName
		default:
			cmRV = cm.ResourceVersion
			if text, ok := cm.Data[gang.PropertiesKey]; ok {
				props, perr = gang.ParseProperties(text)
			}
		}
	}
	key := string(d.UID) + "/" + d.ResourceVersion + "/" + cmRV
	if a.shape.key == key {
		return &a.shape
	}
	si := shapeInfo{key: key, confMissing: missing}
	if perr != nil {
		si.err = fmt.Errorf("ConfigMap %s: %w", cmName, perr)
	} else {
		si.shape, si.warnings, si.err = gang.ShapeFromConf(props, d)
	}
	for k, v := range props {
		switch {
		case strings.HasPrefix(k, confNodeSelector):
			if si.execSelector == nil {
				si.execSelector = map[string]string{}
			}
			si.execSelector[strings.TrimPrefix(k, confNodeSelector)] = v
		case strings.HasPrefix(k, confExecNodeSelector):
			if si.execSelector == nil {
				si.execSelector = map[string]string{}
			}
			si.execSelector[strings.TrimPrefix(k, confExecNodeSelector)] = v
		}
	}
	// The executor-specific selector wins over the shared one, as in Spark.
	for k, v := range props {
		if strings.HasPrefix(k, confExecNodeSelector) {
			si.execSelector[strings.TrimPrefix(k, confExecNodeSelector)] = v
		}
	}
	a.shape = si
	return &a.shape
}

// waitingForConf reports whether the driver should still wait for its conf
// ConfigMap: it mounts one that is not there, and it is younger than wait.
func (si *shapeInfo) waitingForConf(a *app, now time.Time, wait time.Duration) bool {
	return si.confMissing != "" && now.Sub(a.driver.CreationTimestamp.Time) < wait
}
