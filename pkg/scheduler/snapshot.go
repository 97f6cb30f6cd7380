package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/sparkplane/sparkplane/pkg/gang"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

func noScheduleTaints(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

// snapshot is the cluster as the gang decisions see it, from the
// framework's node snapshot of this cycle (pods bound or assumed by any
// scheduler, without reservations). Per node it says whether the driver
// may run there apart from resources (its taints, the driver's node
// selector and required affinity, cordoning) and whether executors may:
// their node selector from the Spark conf, and taints they are expected to
// tolerate (the driver's tolerations and the provider's spot tolerations;
// executor pod templates are not visible before the executors exist).
func (p *SparkGang) snapshot(logger klog.Logger, nodes []fwk.NodeInfo, driver *corev1.Pod, execSelector map[string]string) gang.Snapshot {
	cfg := p.args.Placement
	driverAffinity := nodeaffinity.GetRequiredNodeAffinity(driver)
	execTolerations := append(append([]corev1.Toleration(nil), driver.Spec.Tolerations...), cfg.Provider.SpotTolerations...)
	var execSel labels.Selector
	if len(execSelector) > 0 {
		execSel = labels.SelectorFromSet(execSelector)
	}
	out := gang.Snapshot{Nodes: make([]gang.Node, 0, len(nodes))}
	for _, ni := range nodes {
		n := ni.Node()
		if n == nil {
			continue
		}
		g := gang.NodeFromAPI(n, cfg)
		used := ni.GetRequested()
		g.Requested = gang.Resources{MilliCPU: used.GetMilliCPU(), Memory: used.GetMemory()}
		g.Pods = len(ni.GetPods())
		g.MaxPods = ni.GetAllocatable().GetAllowedPodNumber()
		g.Empty = onlyDaemonSets(ni.GetPods())
		if g.NoDriver == "" {
			if ok, err := driverAffinity.Match(n); err != nil || !ok {
				g.NoDriver = "the driver's node selector or required affinity does not match"
			} else if t, untolerated := v1helper.FindMatchingUntoleratedTaint(logger, n.Spec.Taints, driver.Spec.Tolerations, noScheduleTaints, false); untolerated {
				g.NoDriver = "the driver does not tolerate taint " + t.ToString()
			}
		}
		if g.NoExecutor == "" {
			if execSel != nil && !execSel.Matches(labels.Set(n.Labels)) {
				g.NoExecutor = "the executors' node selector (" + execSel.String() + ") does not match"
			} else if t, untolerated := v1helper.FindMatchingUntoleratedTaint(logger, n.Spec.Taints, execTolerations, noScheduleTaints, false); untolerated {
				g.NoExecutor = "executors are not expected to tolerate taint " + t.ToString()
			}
		}
		out.Nodes = append(out.Nodes, g)
	}
	return out
}

// onlyDaemonSets reports whether no pods but DaemonSet pods run on a node,
// so that an autoscaler could remove it.
func onlyDaemonSets(pods []fwk.PodInfo) bool {
	for _, pi := range pods {
		owned := false
		for _, ref := range pi.GetPod().OwnerReferences {
			if ref.Controller != nil && *ref.Controller && ref.Kind == "DaemonSet" {
				owned = true
			}
		}
		if !owned {
			return false
		}
	}
	return true
}

// withDriver returns a copy of snap with the driver's request counted on node.
func withDriver(snap gang.Snapshot, node string, req gang.Resources) gang.Snapshot {
	out := gang.Snapshot{Nodes: append([]gang.Node(nil), snap.Nodes...)}
	for i := range out.Nodes {
		if n := &out.Nodes[i]; n.Name == node {
			n.Requested = n.Requested.Add(req)
			n.Pods++
			n.Empty = false
		}
	}
	return out
}

// policyFor is the policy a driver's gang is planned with: the app's rules
// (configuration, per-app overrides on its driver, availability escape; see
// placement.AppRules) with this scheduler's head-of-line wait. Executors
// are held to their own rule (executorInput).
func (p *SparkGang) policyFor(a *app) gang.Policy {
	pol := p.policy
	if a.driver == nil {
		return pol
	}
	pol.Zone, pol.Driver, pol.Executor = placement.AppRules(p.args.Placement, a.driver.Annotations)
	return pol
}

// executorInput is what placement.DecideExecutor decides an executor's rule
// from, as the webhook gives it: the executor pod, its driver (name, bound
// node and that node's zone, annotations) and the availability escape's
// mark on the app (on its driver, or on its pods when it has none).
func (p *SparkGang) executorInput(a *app, pod *corev1.Pod) placement.Input {
	cfg := p.args.Placement
	in := placement.Input{Pod: pod, Config: cfg, AppFallback: appFallback(a)}
	drv := a.driver
	if drv == nil {
		return in
	}
	info := &placement.DriverInfo{Name: drv.Name, Via: "spark-app-selector", NodeName: drv.Spec.NodeName, Annotations: drv.Annotations}
	if ref := spark.DriverOwner(pod); ref != nil && ref.Name == drv.Name {
		info.Via = "ownerReference"
	}
	if info.NodeName != "" {
		if n, err := p.nodeLister.Get(info.NodeName); err == nil {
			info.Zone = n.Labels[cfg.ZoneLabel]
		}
	}
	in.Driver = info
	return in
}

// appFallback is the availability escape's mark on an app, where the
// webhook writes it: on its driver or, without a driver pod, on its
// executors.
func appFallback(a *app) string {
	if a.driver != nil {
		return a.driver.Annotations[placement.AnnotationZoneFallback]
	}
	for _, e := range a.executors {
		if v := e.pod.Annotations[placement.AnnotationZoneFallback]; v != "" {
			return v
		}
	}
	return ""
}
