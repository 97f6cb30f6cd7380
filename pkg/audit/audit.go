// Package audit summarises where Spark apps run: per app the driver's zone
// and capacity type, executors per zone and capacity type, and executors
// outside their driver's zone. It is pure: callers pass the pods and nodes.
package audit

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// Placement is a zone and capacity type.
type Placement struct {
	Zone     string
	Capacity v1alpha1.CapacityType
}

// App is one Spark app's placement.
type App struct {
	Namespace, AppID, Name string
	// Driver is empty when the app has no (bound) driver pod.
	Driver *Placement
	// Executors counts bound executors per placement.
	Executors map[Placement]int
	// CrossZone counts bound executors outside the driver's zone.
	CrossZone int
	// Pending counts executors not bound to a node.
	Pending int
}

// BoundExecutors is the number of executors with a node.
func (a App) BoundExecutors() int {
	n := 0
	for _, c := range a.Executors {
		n += c
	}
	return n
}

// Report is the placement of every Spark app.
type Report struct {
	Apps []App
}

// Totals over the report.
type Totals struct {
	Apps, Drivers, DriversOnDemand, Executors, ExecutorsSpot, CrossZone, Pending int
}

// Totals sums the report.
func (r Report) Totals() Totals {
	var t Totals
	t.Apps = len(r.Apps)
	for _, a := range r.Apps {
		if a.Driver != nil {
			t.Drivers++
			if a.Driver.Capacity == v1alpha1.CapacityOnDemand {
				t.DriversOnDemand++
			}
		}
		for p, n := range a.Executors {
			t.Executors += n
			if p.Capacity == v1alpha1.CapacitySpot {
				t.ExecutorsSpot += n
			}
		}
		t.CrossZone += a.CrossZone
		t.Pending += a.Pending
	}
	return t
}

// Summarize builds the report from Spark pods and the nodes they run on.
// Finished pods (Succeeded, Failed) and pods being deleted are left out.
func Summarize(pods []corev1.Pod, nodes []corev1.Node, provider v1alpha1.Provider, zoneLabel string) Report {
	where := make(map[string]Placement, len(nodes))
	for _, n := range nodes {
		where[n.Name] = Placement{Zone: n.Labels[zoneLabel], Capacity: provider.CapacityTypeOf(n.Labels)}
	}
	apps := map[[2]string]*App{}
	get := func(p *corev1.Pod) *App {
		k := [2]string{p.Namespace, spark.AppID(p)}
		if apps[k] == nil {
			apps[k] = &App{Namespace: k[0], AppID: k[1], Name: p.Labels[spark.LabelAppName], Executors: map[Placement]int{}}
		}
		return apps[k]
	}
	live := func(p *corev1.Pod) bool {
		return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
	}
	for i := range pods {
		p := &pods[i]
		if spark.RoleOf(p) == spark.RoleDriver && live(p) && p.Spec.NodeName != "" {
			pl := where[p.Spec.NodeName]
			get(p).Driver = &pl
		}
	}
	for i := range pods {
		p := &pods[i]
		if spark.RoleOf(p) != spark.RoleExecutor || !live(p) {
			continue
		}
		a := get(p)
		if p.Spec.NodeName == "" {
			a.Pending++
			continue
		}
		pl := where[p.Spec.NodeName]
		a.Executors[pl]++
		if a.Driver != nil && pl.Zone != a.Driver.Zone {
			a.CrossZone++
		}
	}
	r := Report{}
	for _, a := range apps {
		r.Apps = append(r.Apps, *a)
	}
	sort.Slice(r.Apps, func(i, j int) bool {
		if r.Apps[i].Namespace != r.Apps[j].Namespace {
			return r.Apps[i].Namespace < r.Apps[j].Namespace
		}
		return r.Apps[i].AppID < r.Apps[j].AppID
	})
	return r
}
