package webhook

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/sparkplane/sparkplane/pkg/audit"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

const appIndex = "spark-app"

// Driver lookup results (metric label values).
const (
	LookupOwner       = "owner-reference"
	LookupAppSelector = "app-selector"
	LookupNotFound    = "not-found"
	LookupNotBound    = "not-bound"
	LookupNodeUnknown = "node-unknown"
)

// Cache answers every admission question from informer caches: Spark pods
// only (label selector spark-role, slimmed to metadata, nodeName and status)
// and node metadata only. An admission makes no API call.
type Cache struct {
	factory   informers.SharedInformerFactory
	pods      toolscache.SharedIndexInformer
	nodes     toolscache.SharedIndexInformer
	zoneLabel string
	lastEvent atomic.Int64 // unix nanos
	// marks are escape marks not yet seen back through the informer.
	marks sync.Map // "namespace/app" -> string
}

// NewCache builds (but does not start) the informers.
func NewCache(client kubernetes.Interface, meta metadata.Interface, zoneLabel string) (*Cache, error) {
	c := &Cache{zoneLabel: zoneLabel}
	c.lastEvent.Store(time.Now().UnixNano())
	c.factory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = spark.LabelRole }))
	c.pods = c.factory.Core().V1().Pods().Informer()
	if err := c.pods.SetTransform(slimPod); err != nil {
		return nil, fmt.Errorf("setting pod transform: %w", err)
	}
	if err := c.pods.AddIndexers(toolscache.Indexers{appIndex: indexByApp}); err != nil {
		return nil, fmt.Errorf("adding pod indexer: %w", err)
	}
	touch := func(any) { c.lastEvent.Store(time.Now().UnixNano()) }
	if _, err := c.pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: touch, UpdateFunc: func(_, o any) { touch(o) },
		DeleteFunc: func(o any) { touch(o); c.forgetFinishedApp(o) },
	}); err != nil {
		return nil, fmt.Errorf("adding pod event handler: %w", err)
	}
	c.nodes = metadatainformer.NewFilteredMetadataInformer(meta, schema.GroupVersionResource{Version: "v1", Resource: "nodes"},
		"", 0, toolscache.Indexers{}, nil).Informer()
	// Name the missing permission and the fix when RBAC forbids a list or watch (permissions.go).
	for resource, inf := range map[string]toolscache.SharedIndexInformer{"pods": c.pods, "nodes": c.nodes} {
		if err := inf.SetWatchErrorHandlerWithContext(watchErrorHandler(resource)); err != nil {
			return nil, fmt.Errorf("setting the %s watch error handler: %w", resource, err)
		}
	}
	return c, nil
}

// AddPodHandler adds h to the Spark pod informer (before Start).
func (c *Cache) AddPodHandler(h toolscache.ResourceEventHandler) error {
	if _, err := c.pods.AddEventHandler(h); err != nil {
		return fmt.Errorf("adding pod event handler: %w", err)
	}
	return nil
}

// Pod returns the cached (slimmed) Spark pod with key namespace/name.
func (c *Cache) Pod(key string) (*corev1.Pod, bool) {
	obj, ok, _ := c.pods.GetStore().GetByKey(key)
	if !ok {
		return nil, false
	}
	p, ok := obj.(*corev1.Pod)
	return p, ok
}

// Start runs the informers until ctx ends.
func (c *Cache) Start(ctx context.Context) {
	c.factory.Start(ctx.Done())
	go c.nodes.Run(ctx.Done())
}

// HasSynced reports whether both caches have their initial lists.
func (c *Cache) HasSynced() bool { return c.pods.HasSynced() && c.nodes.HasSynced() }

// WaitForSync blocks until the caches are synced or ctx ends.
func (c *Cache) WaitForSync(ctx context.Context) bool {
	return toolscache.WaitForCacheSync(ctx.Done(), c.pods.HasSynced, c.nodes.HasSynced)
}

// LastEventAge is the time since the pod informer last delivered an event.
func (c *Cache) LastEventAge() time.Duration {
	return time.Since(time.Unix(0, c.lastEvent.Load()))
}

// Driver finds an executor's driver: by its ownerReference, else by the pod
// with the same spark-app-selector and spark-role=driver in the namespace.
func (c *Cache) Driver(namespace string, pod *corev1.Pod) (*placement.DriverInfo, string) {
	var drv *corev1.Pod
	via := ""
	if ref := spark.DriverOwner(pod); ref != nil {
		if obj, ok, _ := c.pods.GetStore().GetByKey(namespace + "/" + ref.Name); ok {
			if p := obj.(*corev1.Pod); p.UID == ref.UID {
				drv, via = p, "ownerReference"
			}
		}
	}
	if drv == nil {
		if app := spark.AppID(pod); app != "" {
			drv = c.appDriver(namespace, app)
			via = "spark-app-selector"
		}
	}
	if drv == nil {
		return nil, LookupNotFound
	}
	info := &placement.DriverInfo{Name: drv.Name, Via: via, NodeName: drv.Spec.NodeName, Annotations: drv.Annotations}
	if info.NodeName == "" {
		return info, LookupNotBound
	}
	obj, ok, _ := c.nodes.GetStore().GetByKey(info.NodeName)
	if !ok {
		return info, LookupNodeUnknown
	}
	info.Zone = obj.(*metav1.PartialObjectMetadata).Labels[c.zoneLabel]
	if via == "ownerReference" {
		return info, LookupOwner
	}
	return info, LookupAppSelector
}

// appDriver returns the newest live driver pod of an app.
func (c *Cache) appDriver(namespace, app string) *corev1.Pod {
	return spark.AppDriver(c.appPods(namespace, app))
}

// AppFallback returns the availability escape's mark on an app: on its
// driver, or on any of its pods when it has no driver pod.
func (c *Cache) AppFallback(namespace, app string) string {
	if app == "" {
		return ""
	}
	if v, ok := c.marks.Load(namespace + "/" + app); ok {
		return v.(string)
	}
	for _, p := range c.appPods(namespace, app) {
		if v := p.Annotations[placement.AnnotationZoneFallback]; v != "" {
			return v
		}
	}
	return ""
}

// SetFallback records an escape mark at once, before the annotation written
// for it comes back through the informer.
func (c *Cache) SetFallback(namespace, app, mark string) {
	c.marks.Store(namespace+"/"+app, mark)
}

// forgetFinishedApp drops the in-memory mark of an app whose last pod is gone.
func (c *Cache) forgetFinishedApp(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok || spark.AppID(p) == "" {
		return
	}
	if len(c.appPods(p.Namespace, spark.AppID(p))) == 0 {
		c.marks.Delete(p.Namespace + "/" + spark.AppID(p))
	}
}

func (c *Cache) appPods(namespace, app string) []*corev1.Pod {
	objs, _ := c.pods.GetIndexer().ByIndex(appIndex, namespace+"/"+app)
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		pods = append(pods, o.(*corev1.Pod))
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// SparkPods returns every cached Spark pod (slimmed).
func (c *Cache) SparkPods() []*corev1.Pod {
	objs := c.pods.GetStore().List()
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		pods = append(pods, o.(*corev1.Pod))
	}
	return pods
}

// Placements classifies every cached live executor against its driver's
// zone (audit.SummarizePods over the informer caches, no API call), for the
// placement gauges; false until both caches are synced. It walks every
// cached Spark pod once, which is cheap enough at scrape intervals.
func (c *Cache) Placements() (audit.Totals, bool) {
	if !c.HasSynced() {
		return audit.Totals{}, false
	}
	return audit.SummarizePods(c.SparkPods(), c.nodeZone).Totals(), true
}

// nodeZone is a node's zone from the metadata cache (the capacity type is
// not needed for the gauges and stays empty).
func (c *Cache) nodeZone(name string) (audit.Placement, bool) {
	obj, ok, _ := c.nodes.GetStore().GetByKey(name)
	if !ok {
		return audit.Placement{}, false
	}
	return audit.Placement{Zone: obj.(*metav1.PartialObjectMetadata).Labels[c.zoneLabel]}, true
}

func indexByApp(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok || spark.AppID(p) == "" {
		return nil, nil
	}
	return []string{p.Namespace + "/" + spark.AppID(p)}, nil
}

// slimPod keeps what placement and the escape read: metadata (without managed
// fields), the node name, the phase and conditions. Spark pods carry large
// env and volume lists that the webhook never needs.
func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // tombstones pass through
	}
	meta := *p.ObjectMeta.DeepCopy()
	meta.ManagedFields = nil
	return &corev1.Pod{
		ObjectMeta: meta,
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status:     corev1.PodStatus{Phase: p.Status.Phase, Conditions: p.Status.Conditions},
	}, nil
}
