package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
)

// staticLookup answers driver lookups from fixed data: the handler's input,
// not the thing under test.
type staticLookup struct {
	driver *placement.DriverInfo
	mark   string
}

func (s staticLookup) Driver(string, *corev1.Pod) (*placement.DriverInfo, string) {
	if s.driver == nil {
		return nil, LookupNotFound
	}
	return s.driver, LookupOwner
}
func (s staticLookup) AppFallback(string, string) string { return s.mark }

func testHandler(l Lookup) http.Handler {
	m := &Mutator{Config: v1alpha1.Default(), Lookup: l, Metrics: NewMetrics(func() float64 { return 0 }), Log: logr.Discard()}
	return AdmissionHandler(m, logr.Discard())
}

func review(t testing.TB, rawPod string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "u-1", "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace": "ns", "operation": "CREATE", "userInfo": map[string]any{},
			"object": json.RawMessage(rawPod),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(h http.Handler, body []byte, contentType string) (*httptest.ResponseRecorder, admissionv1.AdmissionReview) {
	req := httptest.NewRequest(http.MethodPost, PathMutate, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

func TestMalformedBodies(t *testing.T) {
	h := testHandler(staticLookup{})
	tests := []struct {
		name, body, ct string
		code           int
		msg            string
	}{
		{"empty", "", "application/json", 400, "empty body"},
		{"not json", "{{{", "application/json", 400, "body is not an AdmissionReview"},
		{"wrong content type", `{}`, "text/plain", 400, `content type "text/plain" not supported`},
		{"no apiVersion", `{"kind":"AdmissionReview","request":{"uid":"x"}}`, "application/json", 400, `apiVersion "" not supported`},
		{"wrong kind", `{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}`, "application/json", 400, `kind "Pod" not supported`},
		{"no request", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "application/json", 400, "has no request"},
		{"no uid", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`, "application/json", 400, "request.uid is empty"},
		{"request is a string", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"x"}`, "application/json", 400, "body is not an AdmissionReview"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, out := post(h, []byte(tt.body), tt.ct)
			if rec.Code != tt.code || out.Response == nil || !strings.Contains(out.Response.Result.Message, tt.msg) {
				t.Fatalf("got %d %s, want %d with %q", rec.Code, rec.Body.String(), tt.code, tt.msg)
			}
		})
	}
	// A well-formed review whose object is not a pod is an admission error, not a crash.
	rec, out := post(h, review(t, `{"metadata":{"labels":"not-a-map"}}`), "application/json")
	if rec.Code != 200 || out.Response.Allowed || out.Response.Result.Code != 400 || !strings.Contains(out.Response.Result.Message, "not a valid Pod") {
		t.Fatalf("bad object: %d %s", rec.Code, rec.Body.String())
	}
}

func TestNonSparkPodIsUntouched(t *testing.T) {
	h := testHandler(staticLookup{driver: &placement.DriverInfo{Name: "d", NodeName: "n", Zone: "z"}})
	for _, pod := range []string{
		`{"metadata":{"name":"web","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`,
		`{"metadata":{"name":"odd","labels":{"spark-role":"history-server"}}}`,
	} {
		rec, out := post(h, review(t, pod), "application/json")
		if rec.Code != 200 || !out.Response.Allowed || out.Response.Patch != nil || out.Response.PatchType != nil || out.Response.UID != "u-1" {
			t.Errorf("pod %s: %d %s", pod, rec.Code, rec.Body.String())
		}
	}
}

// The patch is computed on the fields placement owns, so a field this build
// does not know survives, and the patched object decodes to the decided pod.
func TestPatchAppliesToRawObjectAndKeepsUnknownFields(t *testing.T) {
	h := testHandler(staticLookup{driver: &placement.DriverInfo{Name: "d", Via: "ownerReference", NodeName: "n", Zone: "zone-b"}})
	raw := `{"metadata":{"name":"e-1","labels":{"spark-role":"executor","spark-app-selector":"spark-1"},"annotations":{}},` +
		`"spec":{"futureField":{"x":1},"nodeSelector":{"team":"a"},"tolerations":[],"containers":[{"name":"spark-kubernetes-executor"}]}}`
	rec, out := post(h, review(t, raw), "application/json")
	if rec.Code != 200 || !out.Response.Allowed || out.Response.PatchType == nil {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	patch, err := jsonpatch.DecodePatch(out.Response.Patch)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := patch.Apply([]byte(raw))
	if err != nil {
		t.Fatalf("patch %s does not apply: %v", out.Response.Patch, err)
	}
	if !strings.Contains(string(patched), `"futureField":{"x":1}`) {
		t.Errorf("unknown field lost: %s", patched)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeSelector["topology.kubernetes.io/zone"] != "zone-b" || pod.Spec.NodeSelector["team"] != "a" ||
		pod.Annotations[placement.AnnotationZone] != "zone-b" {
		t.Errorf("patched pod: %s", patched)
	}
	// A pod with no nodeSelector at all gets one.
	raw = `{"metadata":{"name":"e-2","labels":{"spark-role":"executor","spark-app-selector":"spark-1"}},"spec":{"containers":[{"name":"spark-kubernetes-executor"}]}}`
	_, out = post(h, review(t, raw), "application/json")
	if patch, err = jsonpatch.DecodePatch(out.Response.Patch); err != nil {
		t.Fatal(err)
	}
	if patched, err = patch.Apply([]byte(raw)); err != nil {
		t.Fatalf("patch %s does not apply: %v", out.Response.Patch, err)
	}
	pod = corev1.Pod{}
	if err := json.Unmarshal(patched, &pod); err != nil || pod.Spec.NodeSelector["topology.kubernetes.io/zone"] != "zone-b" {
		t.Errorf("patched pod without a nodeSelector: %s (%v)", patched, err)
	}
}

// A driver with an invalid annotation is refused with 400 Bad Request: a
// 403 makes Spark's client say the user lacks permission (docs/webhook.md).
func TestDriverWithInvalidAnnotationIsDenied(t *testing.T) {
	h := testHandler(staticLookup{})
	rec, out := post(h, review(t, `{"metadata":{"name":"d","labels":{"spark-role":"driver"},"annotations":{"sparkplane.io/zone-pinning":"sometimes"}}}`), "application/json")
	if rec.Code != 200 || out.Response.Allowed || !strings.Contains(out.Response.Result.Message, `sparkplane.io/zone-pinning="sometimes"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if r := out.Response.Result; r.Code != http.StatusBadRequest || r.Reason != metav1.StatusReasonBadRequest || r.Status != metav1.StatusFailure {
		t.Errorf("denial status: code %d reason %q status %q, want 400 BadRequest Failure", r.Code, r.Reason, r.Status)
	}
}

func TestExecutorWithInvalidAnnotationWarns(t *testing.T) {
	h := testHandler(staticLookup{driver: &placement.DriverInfo{Name: "d", NodeName: "n", Zone: "z"}})
	_, out := post(h, review(t, `{"metadata":{"name":"e","labels":{"spark-role":"executor"},"annotations":{"sparkplane.io/executor-capacity-type":"cheap"}}}`), "application/json")
	if !out.Response.Allowed || len(out.Response.Warnings) != 1 || !strings.Contains(out.Response.Warnings[0], "cheap") {
		t.Fatalf("%+v", out.Response)
	}
}

// FuzzAdmissionBody sends arbitrary bodies: the handler answers every one
// with a decodable AdmissionReview and never panics.
func FuzzAdmissionBody(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":{"metadata":{"labels":{"spark-role":"executor"}}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":[]}}`))
	f.Add([]byte(`null`))
	h := testHandler(staticLookup{driver: &placement.DriverInfo{Name: "d", NodeName: "n", Zone: "z"}})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, _ := post(h, body, "application/json")
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("undecodable answer %d %q: %v", rec.Code, rec.Body.String(), err)
		}
		if rec.Code != 200 && rec.Code != 400 && rec.Code != 413 {
			t.Fatalf("status %d", rec.Code)
		}
		_, _ = io.Copy(io.Discard, rec.Body)
	})
}

type panicking struct{}

func (panicking) Handle(context.Context, admission.Request) admission.Response { panic("boom") }

func TestPanicBecomes500(t *testing.T) {
	h := AdmissionHandler(panicking{}, logr.Discard())
	rec, out := post(h, review(t, `{"metadata":{"name":"e","labels":{"spark-role":"executor"}}}`), "application/json")
	if rec.Code != 200 || out.Response == nil || out.Response.Allowed || out.Response.Result.Code != 500 || out.Response.UID != "u-1" {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}

// lagging answers "not bound" a number of times before the bound driver, as
// an informer that is behind the API server does.
type lagging struct {
	mu    sync.Mutex
	stale int
}

func (l *lagging) Driver(string, *corev1.Pod) (*placement.DriverInfo, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stale > 0 {
		l.stale--
		return &placement.DriverInfo{Name: "d", Via: "ownerReference"}, LookupNotBound
	}
	return &placement.DriverInfo{Name: "d", Via: "ownerReference", NodeName: "n", Zone: "zone-b"}, LookupOwner
}
func (l *lagging) AppFallback(string, string) string { return "" }

func TestExecutorWaitsForALaggingCache(t *testing.T) {
	withOwner := `{"metadata":{"name":"e","labels":{"spark-role":"executor","spark-app-selector":"a"},` +
		`"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"d","uid":"1","controller":true}]},"spec":{"containers":[{"name":"c"}]}}`
	noOwner := `{"metadata":{"name":"e","labels":{"spark-role":"executor","spark-app-selector":"a"}},"spec":{"containers":[{"name":"c"}]}}`
	tests := []struct {
		name, pod string
		stale     int
		wait      time.Duration
		wantZone  string // "" means the pod-affinity fallback
	}{
		{"catches up", withOwner, 3, time.Second, "zone-b"},
		{"gives up after the wait", withOwner, 1 << 30, 100 * time.Millisecond, ""},
		{"client mode does not wait", noOwner, 3, time.Second, ""},
		{"waiting disabled", withOwner, 3, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Mutator{Config: v1alpha1.Default(), Lookup: &lagging{stale: tt.stale}, Metrics: NewMetrics(func() float64 { return 0 }),
				Log: logr.Discard(), CacheWait: tt.wait}
			_, out := post(AdmissionHandler(m, logr.Discard()), review(t, tt.pod), "application/json")
			patch, err := jsonpatch.DecodePatch(out.Response.Patch)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := patch.Apply([]byte(tt.pod))
			if err != nil {
				t.Fatal(err)
			}
			var pod corev1.Pod
			_ = json.Unmarshal(patched, &pod)
			if got := pod.Annotations[placement.AnnotationZone]; got != tt.wantZone {
				t.Errorf("zone %q, want %q (%s)", got, tt.wantZone, pod.Annotations[placement.AnnotationDecision])
			}
		})
	}
}

// notified is a Notifier that keeps what it is told: the handler's output,
// checked by the tests below (PodEvents itself is tested in events_test.go).
type notified struct {
	mu     sync.Mutex
	events []string // "admitted|existing ns/name reason: message"
}

func (n *notified) Admitted(ns, name, reason, msg string) { n.add("admitted", ns, name, reason, msg) }
func (n *notified) Existing(ns, name, reason, msg string) { n.add("existing", ns, name, reason, msg) }
func (n *notified) add(kind, ns, name, reason, msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, kind+" "+ns+"/"+name+" "+reason+": "+msg)
}

// bogusTolerations is a configuration that validation should refuse but the
// handler must survive anyway (issue 11): built directly, not validated.
func bogusTolerations() *v1alpha1.SparkplaneConfiguration {
	c := &v1alpha1.SparkplaneConfiguration{Provider: v1alpha1.Provider{Preset: v1alpha1.ProviderAKS,
		SpotTolerations: []corev1.Toleration{{Key: "", Operator: "Bogus", Effect: "Sometimes"}}}}
	v1alpha1.SetDefaults(c)
	return c
}

// bogusProtection protects executors with an annotation key the API server
// refuses: validation refuses it, the handler must survive it anyway.
func bogusProtection() *v1alpha1.SparkplaneConfiguration {
	on := true
	c := &v1alpha1.SparkplaneConfiguration{DisruptionProtection: v1alpha1.DisruptionProtection{
		Executor: &on, Annotations: map[string]string{"do not disrupt": "true"}}}
	v1alpha1.SetDefaults(c)
	return c
}

// The last line of defence: a patch that would make the pod invalid is never
// returned; the pod is admitted unchanged, with a warning, a metric and an
// event. Errors the pod had before the webhook are not the webhook's.
func TestPatchThatWouldInvalidateThePodIsWithheld(t *testing.T) {
	const executor = `{"metadata":{"name":"e-1","labels":{"spark-role":"executor","spark-app-selector":"a"}},` +
		`"spec":{"containers":[{"name":"c","image":"spark"}]%s}}`
	ownBadToleration := `,"tolerations":[{"key":"x","operator":"Nope"}]`
	tests := []struct {
		name        string
		cfg         *v1alpha1.SparkplaneConfiguration
		pod         string
		wantPatched bool
		wantWarning string
	}{
		{"bogus spot toleration in the config", bogusTolerations(), fmt.Sprintf(executor, ""), false,
			`spec.tolerations[0].operator: Unsupported value: "Bogus"`},
		{"valid config", v1alpha1.Default(), fmt.Sprintf(executor, ""), true, ""},
		{"the pod's own invalid toleration is not the patch's fault", v1alpha1.Default(), fmt.Sprintf(executor, ownBadToleration), true, ""},
		// Issue 12 item 4: the protection annotations are written into pods too.
		{"bogus protection annotation in the config", bogusProtection(), fmt.Sprintf(executor, ""), false,
			`metadata.annotations: Invalid value: "do not disrupt": name part must consist of alphanumeric characters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := &notified{}
			m := &Mutator{Config: tt.cfg, Lookup: staticLookup{}, Metrics: NewMetrics(func() float64 { return 0 }), Log: logr.Discard(), Events: events}
			rec, out := post(AdmissionHandler(m, logr.Discard()), review(t, tt.pod), "application/json")
			if rec.Code != 200 || out.Response == nil || !out.Response.Allowed {
				t.Fatalf("not admitted: %d %s", rec.Code, rec.Body.String())
			}
			if patched := out.Response.Patch != nil; patched != tt.wantPatched {
				t.Fatalf("patched %v, want %v: %s", patched, tt.wantPatched, out.Response.Patch)
			}
			withheld := testutil.ToFloat64(m.Metrics.InvalidPatches.WithLabelValues("executor"))
			if tt.wantPatched {
				if withheld != 0 || len(events.events) != 0 || len(out.Response.Warnings) != 0 {
					t.Errorf("valid patch reported as invalid: metric %v events %q warnings %q", withheld, events.events, out.Response.Warnings)
				}
				return
			}
			const prefix = "sparkplane: pod admitted without placement: the webhook's patch would make it invalid ("
			if len(out.Response.Warnings) != 1 || !strings.HasPrefix(out.Response.Warnings[0], prefix) || !strings.Contains(out.Response.Warnings[0], tt.wantWarning) {
				t.Errorf("warnings %q, want one containing %q", out.Response.Warnings, tt.wantWarning)
			}
			if withheld != 1 || testutil.ToFloat64(m.Metrics.Admissions.WithLabelValues("executor", "unchanged")) != 1 {
				t.Errorf("invalid_patches %v, admissions{executor,unchanged} %v; want 1, 1", withheld, testutil.ToFloat64(m.Metrics.Admissions.WithLabelValues("executor", "unchanged")))
			}
			if len(events.events) != 1 || !strings.HasPrefix(events.events[0], "admitted ns/e-1 InvalidPatch: pod admitted without placement") ||
				!strings.Contains(events.events[0], tt.wantWarning) {
				t.Errorf("events %q", events.events)
			}
		})
	}
}

// An invalid executor annotation leaves a trace: events for the executor
// (once it exists) and its driver; none for a dry run, whose pod never exists.
func TestInvalidExecutorAnnotationIsRecorded(t *testing.T) {
	const pod = `{"metadata":{"name":"e-1","labels":{"spark-role":"executor"},"annotations":{"sparkplane.io/executor-capacity-type":"cheap"}},"spec":{"containers":[{"name":"c"}]}}`
	const msg = `annotation sparkplane.io/executor-capacity-type="cheap" is not valid: allowed values are on-demand, spot, prefer-on-demand, prefer-spot, any`
	for _, tt := range []struct {
		name   string
		dryRun bool
		want   []string
	}{
		{"created", false, []string{"admitted ns/e-1 InvalidAnnotation: " + msg, "existing ns/drv InvalidAnnotation: executor e-1: " + msg}},
		{"dry run", true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events := &notified{}
			m := &Mutator{Config: v1alpha1.Default(), Lookup: staticLookup{driver: &placement.DriverInfo{Name: "drv", NodeName: "n", Zone: "z"}},
				Metrics: NewMetrics(func() float64 { return 0 }), Log: logr.Discard(), Events: events}
			body := review(t, pod)
			if tt.dryRun {
				body = bytes.Replace(body, []byte(`"operation":"CREATE"`), []byte(`"operation":"CREATE","dryRun":true`), 1)
			}
			_, out := post(AdmissionHandler(m, logr.Discard()), body, "application/json")
			if !out.Response.Allowed || out.Response.Patch == nil {
				t.Fatalf("%+v", out.Response)
			}
			if len(events.events) != len(tt.want) {
				t.Fatalf("events %q, want %d", events.events, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(events.events[i], w) {
					t.Errorf("event %q, want prefix %q", events.events[i], w)
				}
			}
		})
	}
}

// Issue 12 item 4: the driver's patch adds the protection annotation of the
// provider preset, keeps one the pod already has, and the executor's adds
// none (executors are not protected by default).
func TestPatchProtectsDrivers(t *testing.T) {
	const doNotDisrupt, safeToEvict = "karpenter.sh/do-not-disrupt", "cluster-autoscaler.kubernetes.io/safe-to-evict"
	eks := &v1alpha1.SparkplaneConfiguration{Provider: v1alpha1.Provider{Preset: v1alpha1.ProviderEKS}}
	v1alpha1.SetDefaults(eks)
	for _, tt := range []struct {
		name string
		cfg  *v1alpha1.SparkplaneConfiguration
		pod  string
		want map[string]string // annotation -> value; "" means absent
	}{
		{"driver, karpenter", v1alpha1.Default(),
			`{"metadata":{"name":"d","labels":{"spark-role":"driver"}},"spec":{"containers":[{"name":"c"}]}}`,
			map[string]string{doNotDisrupt: "true", safeToEvict: ""}},
		{"driver, eks", eks,
			`{"metadata":{"name":"d","labels":{"spark-role":"driver"},"annotations":{"team":"data"}},"spec":{"containers":[{"name":"c"}]}}`,
			map[string]string{doNotDisrupt: "", safeToEvict: "false", "team": "data"}},
		{"driver with its own do-not-disrupt=false", v1alpha1.Default(),
			`{"metadata":{"name":"d","labels":{"spark-role":"driver"},"annotations":{"karpenter.sh/do-not-disrupt":"false"}},"spec":{"containers":[{"name":"c"}]}}`,
			map[string]string{doNotDisrupt: "false"}},
		{"driver, per-app off", v1alpha1.Default(),
			`{"metadata":{"name":"d","labels":{"spark-role":"driver"},"annotations":{"sparkplane.io/driver-disruption-protection":"off"}},"spec":{"containers":[{"name":"c"}]}}`,
			map[string]string{doNotDisrupt: ""}},
		{"executor", v1alpha1.Default(),
			`{"metadata":{"name":"e","labels":{"spark-role":"executor","spark-app-selector":"a"}},"spec":{"containers":[{"name":"c"}]}}`,
			map[string]string{doNotDisrupt: "", safeToEvict: ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Mutator{Config: tt.cfg, Lookup: staticLookup{driver: &placement.DriverInfo{Name: "d", Via: "ownerReference", NodeName: "n", Zone: "z"}},
				Metrics: NewMetrics(func() float64 { return 0 }), Log: logr.Discard()}
			rec, out := post(AdmissionHandler(m, logr.Discard()), review(t, tt.pod), "application/json")
			if rec.Code != 200 || !out.Response.Allowed || out.Response.Patch == nil || len(out.Response.Warnings) != 0 {
				t.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
			patch, err := jsonpatch.DecodePatch(out.Response.Patch)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := patch.Apply([]byte(tt.pod))
			if err != nil {
				t.Fatalf("patch %s does not apply: %v", out.Response.Patch, err)
			}
			var pod corev1.Pod
			if err := json.Unmarshal(patched, &pod); err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got, ok := pod.Annotations[k]; got != want || ok != (want != "") {
					t.Errorf("annotation %s = %q (present %v), want %q; patch %s", k, got, ok, want, out.Response.Patch)
				}
			}
		})
	}
}
