package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/podvalidation"
	"github.com/sparkplane/sparkplane/pkg/sparksim"
	corev1defaults "k8s.io/kubernetes/pkg/apis/core/v1"
)

// BenchmarkHandleExecutor is one executor admission as the API server sends
// it (a defaulted, valid pod): decision, patch and the check that the
// patched pod is still valid.
func BenchmarkHandleExecutor(b *testing.B) {
	app := sparksim.App{Namespace: "ns", Name: "a"}
	drv := sparksim.DriverPod(app)
	drv.UID = "u"
	pod := sparksim.ExecutorPod(app, drv, 1)
	corev1defaults.SetObjectDefaults_Pod(pod)
	if errs := podvalidation.Pod(pod); len(errs) > 0 {
		b.Fatal(errs)
	}
	raw, _ := json.Marshal(pod)
	m := &Mutator{Config: v1alpha1.Default(), Lookup: staticLookup{driver: &placement.DriverInfo{Name: "d", Via: "ownerReference", NodeName: "n", Zone: "z"}},
		Metrics: NewMetrics(func() float64 { return 0 }), Log: logr.Discard()}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "1", Kind: metav1.GroupVersionKind{Kind: "Pod"}, Operation: admissionv1.Create, Namespace: "ns", Object: runtime.RawExtension{Raw: raw}}}
	b.ReportAllocs()
	for b.Loop() {
		if r := m.Handle(context.Background(), req); len(r.Patches) == 0 {
			b.Fatal("no patch")
		}
	}
}
