package scheduler

import (
	"fmt"
	"os"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	schedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/sparkplane/sparkplane/pkg/gang"
)

// QueueSummary is one queue at a glance.
type QueueSummary struct {
	gang.QueueStatus
	// Limits are the queue's maximum and driver share.
	Limits gang.Queue
	// ReservedSlots are executor slots held for the queue's gangs and not
	// yet taken.
	ReservedSlots int
}

// Summarize computes the queues from API objects as the plugin sees them:
// the Spark pods (all of them, or those of the namespaces of interest),
// the conf ConfigMaps of pending drivers (to size their gangs; without
// them Spark's defaults are assumed) and the reservations written on the
// drivers. What only the running scheduler knows (drivers admitted in the
// current scheduling cycle, pods assumed but not yet bound) is not
// included. Queues named in args are listed even when empty. Only apps
// whose driver names schedulerName are counted ("" for all).
func Summarize(args *SparkGangArgs, schedulerName string, pods []*corev1.Pod, confMaps []*corev1.ConfigMap, now time.Time) ([]QueueSummary, error) {
	args, err := DecodeArgs(args)
	if err != nil {
		return nil, err
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, cm := range confMaps {
		if err := indexer.Add(cm); err != nil {
			return nil, err
		}
	}
	// Observe in creation order, as the informer would have delivered them.
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].CreationTimestamp, sorted[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return sorted[i].Name < sorted[j].Name
	})
	p := &SparkGang{args: args, policy: args.Policy(), apps: newTracker(args.QueueLabel, schedulerName), cmLister: corelisters.NewConfigMapLister(indexer), ready: true}
	for _, pod := range sorted {
		p.apps.observe(pod)
	}
	ledger, _, _ := rebuildLedger(sorted, p.apps)
	ledger.Expire(now)
	p.ledger = ledger
	for _, h := range ledger.All() {
		if a := p.apps.apps[h.App]; a != nil {
			a.reserved = true
		}
	}
	names := p.apps.queues()
	for _, q := range args.Queues {
		if _, ok := p.apps.byQueue[q.Name]; !ok {
			names = append(names, q.Name)
		}
	}
	sort.Strings(names)
	out := make([]QueueSummary, 0, len(names))
	for _, name := range names {
		q := args.Queue(name)
		s := QueueSummary{QueueStatus: gang.Status(q, p.queueState(name, "", now), now), Limits: q}
		s.HeadWait = s.HeadWait.Round(time.Millisecond)
		for key := range p.apps.byQueue[name] {
			if h, ok := ledger.Get(key); ok {
				s.ReservedSlots += sumSlots(h.Remaining)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// ArgsFromConfigFile reads the SparkGang args of a profile from a
// KubeSchedulerConfiguration file (what `sparkplane scheduler --config`
// runs with); nil args (defaults) when the profile configures none.
func ArgsFromConfigFile(path, schedulerName string) (*SparkGangArgs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scheduler configuration: %w", err)
	}
	obj, gvk, err := schedulerscheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding scheduler configuration %s: %w", path, err)
	}
	cfg, ok := obj.(*schedulerconfig.KubeSchedulerConfiguration)
	if !ok {
		return nil, fmt.Errorf("%s: want a KubeSchedulerConfiguration, got %v", path, gvk)
	}
	for _, prof := range cfg.Profiles {
		if prof.SchedulerName != schedulerName {
			continue
		}
		for _, pc := range prof.PluginConfig {
			if pc.Name == PluginName {
				return DecodeArgs(pc.Args)
			}
		}
		return DecodeArgs(nil)
	}
	return nil, fmt.Errorf("%s has no profile %q", path, schedulerName)
}
