package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/placement"
	"github.com/sparkplane/sparkplane/pkg/podvalidation"
	"github.com/sparkplane/sparkplane/pkg/spark"
)

// Lookup is what the handler needs to know about the cluster; Cache
// implements it from informers.
type Lookup interface {
	Driver(namespace string, pod *corev1.Pod) (*placement.DriverInfo, string)
	AppFallback(namespace, app string) string
}

// Mutator adapts placement.Decide to pod admission.
type Mutator struct {
	Config  *v1alpha1.SparkplaneConfiguration
	Lookup  Lookup
	Metrics *Metrics
	Log     logr.Logger
	// CacheWait bounds how long an executor waits for the cache to show its
	// driver bound (see driverOf); 0 disables waiting.
	CacheWait time.Duration
	// Events records what users must see on their pods (invalid
	// annotations, a withheld patch); nil records none.
	Events Notifier
}

// DefaultCacheWait is well inside the API server's webhook timeout.
const DefaultCacheWait = 2 * time.Second

// driverOf looks the executor's driver up in the cache. An executor whose
// ownerReference names a driver pod exists only because that driver runs
// (Spark creates executors from inside it), so a cache that shows the
// driver missing or unbound is behind the API server: wait for it, briefly,
// rather than fall back to the slower pod-affinity path. No API call.
func (m *Mutator) driverOf(ctx context.Context, ns string, pod *corev1.Pod) (*placement.DriverInfo, string) {
	drv, result := m.Lookup.Driver(ns, pod)
	if m.CacheWait <= 0 || spark.DriverOwner(pod) == nil || (result != LookupNotFound && result != LookupNotBound && result != LookupNodeUnknown) {
		return drv, result
	}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, m.CacheWait, false, func(context.Context) (bool, error) {
		drv, result = m.Lookup.Driver(ns, pod)
		return result != LookupNotFound && result != LookupNotBound && result != LookupNodeUnknown, nil
	})
	outcome := "caught-up"
	if err != nil {
		outcome = "timed-out"
	}
	m.Metrics.CacheWaits.WithLabelValues(outcome).Inc()
	return drv, result
}

var _ admission.Handler = &Mutator{}

// Handle decides on one pod CREATE. Pods that are not Spark pods are
// allowed with no patch at all.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create || len(req.Object.Raw) == 0 {
		return admission.Allowed("")
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		m.Metrics.Admissions.WithLabelValues("unknown", "error").Inc()
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("request.object is not a valid Pod: %w", err))
	}
	role := spark.RoleOf(pod)
	if role != spark.RoleDriver && role != spark.RoleExecutor {
		m.Metrics.Admissions.WithLabelValues("other", "unchanged").Inc()
		return admission.Allowed("")
	}
	start := time.Now()
	ns := pod.Namespace
	if ns == "" {
		ns = req.Namespace
	}
	in := placement.Input{Pod: pod, Config: m.Config}
	if role == spark.RoleExecutor {
		drv, result := m.driverOf(ctx, ns, pod)
		m.Metrics.DriverLookups.WithLabelValues(result).Inc()
		in.Driver = drv
		in.AppFallback = m.Lookup.AppFallback(ns, spark.AppID(pod))
	}
	d := placement.Decide(in)
	resp, invalid := m.respond(pod, d)
	m.Metrics.DecisionLatency.WithLabelValues(string(role)).Observe(time.Since(start).Seconds())
	if len(invalid) > 0 {
		m.Metrics.InvalidPatches.WithLabelValues(string(role)).Inc()
		m.Log.Error(invalid.ToAggregate(), "Admitting a Spark pod unchanged: sparkplane's patch would make it invalid; fix the configuration",
			"namespace", ns, "pod", pod.Name, "role", role)
	}
	// A dry-run pod never exists: nothing to record an event on.
	if m.Events != nil && !ptr.Deref(req.DryRun, false) {
		m.notify(ns, pod.Name, in.Driver, d, invalid)
	}

	outcome := "mutated"
	switch {
	case d.Denied != "":
		outcome = "denied"
	case !resp.Allowed || resp.Result != nil && resp.Result.Code >= 400:
		outcome = "error"
	case len(resp.Patches) == 0:
		outcome = "unchanged"
	}
	m.Metrics.Admissions.WithLabelValues(string(role), outcome).Inc()
	if role == spark.RoleExecutor && d.ZoneOutcome != "" {
		m.Metrics.ZoneDecisions.WithLabelValues(string(d.ZoneOutcome)).Inc()
		if d.ZoneOutcome.Fallback() {
			m.Metrics.Fallbacks.WithLabelValues(string(d.ZoneOutcome)).Inc()
		}
	}
	if len(d.Warnings) > 0 {
		m.Metrics.Fallbacks.WithLabelValues("invalid-annotation").Add(float64(len(d.Warnings)))
	}
	m.Log.V(2).Info("decided", "namespace", ns, "pod", pod.Name, "role", role, "outcome", outcome, "decision", d.Explanation(), "denied", d.Denied)
	return resp
}

// respond turns the decision into a response. A patch that would make the
// pod invalid is never returned (the API server would refuse the pod, and
// failurePolicy cannot help: the webhook did answer): the pod is admitted
// unchanged with a warning, and the errors the patch introduced are
// returned.
func (m *Mutator) respond(pod *corev1.Pod, d placement.Decision) (admission.Response, field.ErrorList) {
	if d.Denied != "" {
		return denied(d.Denied), nil
	}
	patches, err := patchFor(pod, d.Pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), nil
	}
	if len(patches) == 0 {
		return admission.Allowed("").WithWarnings(d.Warnings...), nil
	}
	// A valid result (nearly always) costs one validation; only an invalid
	// one is compared with the pod as sent.
	if len(podvalidation.Pod(d.Pod)) > 0 {
		if errs := podvalidation.Introduced(pod, d.Pod); len(errs) > 0 {
			return admission.Allowed("").WithWarnings(append(d.Warnings, "sparkplane: "+invalidPatchMessage(errs))...), errs
		}
	}
	return admission.Patched("", patches...).WithWarnings(d.Warnings...), nil
}

// denied refuses a pod the user must fix, with HTTP 400 (Bad Request), not
// the 403 (Forbidden) of admission.Denied: Spark's Kubernetes client
// (fabric8) prefixes the message of every 403 with "Forbidden! User <name>
// doesn't have permission.", which sends users looking at RBAC instead of
// at the annotation this message names (docs/webhook.md shows the output).
func denied(msg string) admission.Response {
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest, Message: msg,
	}}}
}

func invalidPatchMessage(errs field.ErrorList) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return "pod admitted without placement: the webhook's patch would make it invalid (" + strings.Join(msgs, "; ") +
		"); fix the sparkplane configuration (check it with `sparkplane config validate`)"
}

// notify records the decision's events: a withheld patch on the pod, and
// each ignored annotation on the executor and on its driver.
func (m *Mutator) notify(ns, name string, drv *placement.DriverInfo, d placement.Decision, invalid field.ErrorList) {
	if len(invalid) > 0 {
		m.Events.Admitted(ns, name, ReasonInvalidPatch, invalidPatchMessage(invalid))
	}
	for _, msg := range d.Ignored {
		m.Events.Admitted(ns, name, ReasonInvalidAnnotation, msg+"; ignored: the default applies")
		if drv != nil {
			m.Events.Existing(ns, drv.Name, ReasonInvalidAnnotation, "executor "+name+": "+msg+"; ignored: the default applies")
		}
	}
}

// mutable is the part of a pod that placement may change. Diffing only this
// part keeps patches small and fast, and never touches fields this build
// does not know (a newer API server's fields in request.object stay as sent).
type mutable struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		NodeSelector  map[string]string   `json:"nodeSelector,omitempty"`
		Affinity      *corev1.Affinity    `json:"affinity,omitempty"`
		Tolerations   []corev1.Toleration `json:"tolerations,omitempty"`
		SchedulerName string              `json:"schedulerName,omitempty"`
	} `json:"spec"`
}

func mutablePart(p *corev1.Pod) ([]byte, error) {
	var m mutable
	m.Metadata.Annotations = p.Annotations
	m.Spec.NodeSelector, m.Spec.Affinity = p.Spec.NodeSelector, p.Spec.Affinity
	m.Spec.Tolerations, m.Spec.SchedulerName = p.Spec.Tolerations, p.Spec.SchedulerName
	return json.Marshal(m)
}

func patchFor(orig, mutated *corev1.Pod) ([]jsonpatch.JsonPatchOperation, error) {
	if orig == mutated {
		return nil, nil
	}
	a, err := mutablePart(orig)
	if err != nil {
		return nil, fmt.Errorf("encoding pod: %w", err)
	}
	b, err := mutablePart(mutated)
	if err != nil {
		return nil, fmt.Errorf("encoding mutated pod: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("creating patch: %w", err)
	}
	return ops, nil
}

// maxBodyBytes bounds a request body; the API server's own limit is 3 MiB.
const maxBodyBytes = 8 << 20

// AdmissionHandler serves AdmissionReview requests over HTTP. Malformed
// bodies get an HTTP 400 with a message that says what is wrong; well-formed
// reviews go to h, whose response is completed (UID, encoded patch) by
// controller-runtime. A panic in h becomes a 500 answer, not a dead server.
func AdmissionHandler(h admission.Handler, log logr.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		review, status, err := readReview(r)
		if err != nil {
			writeReview(w, status, review, &admissionv1.AdmissionResponse{
				Result: &metav1.Status{Status: metav1.StatusFailure, Code: int32(status), Reason: metav1.StatusReasonBadRequest, Message: err.Error()},
			})
			return
		}
		req := admission.Request{AdmissionRequest: *review.Request}
		resp := handle(r.Context(), h, req, log)
		writeReview(w, http.StatusOK, review, &resp.AdmissionResponse)
	})
}

func handle(ctx context.Context, h admission.Handler, req admission.Request, log logr.Logger) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			log.Error(fmt.Errorf("%v", p), "panic while admitting a pod; answering 500", "uid", req.UID)
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("internal error: %v", p))
		}
	}()
	resp = h.Handle(ctx, req)
	if err := resp.Complete(req); err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding response: %w", err))
	}
	return resp
}

func readReview(r *http.Request) (*admissionv1.AdmissionReview, int, error) {
	review := &admissionv1.AdmissionReview{}
	if r.Method != http.MethodPost {
		return review, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: POST an AdmissionReview", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return review, http.StatusBadRequest, fmt.Errorf("content type %q not supported: send application/json", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return review, http.StatusBadRequest, fmt.Errorf("reading body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return review, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", maxBodyBytes)
	}
	if len(body) == 0 {
		return review, http.StatusBadRequest, fmt.Errorf("empty body: send an admission.k8s.io/v1 AdmissionReview")
	}
	if err := json.Unmarshal(body, review); err != nil {
		return &admissionv1.AdmissionReview{}, http.StatusBadRequest, fmt.Errorf("body is not an AdmissionReview: %w", err)
	}
	switch {
	case review.APIVersion != "admission.k8s.io/v1" && review.APIVersion != "admission.k8s.io/v1beta1":
		return review, http.StatusBadRequest, fmt.Errorf("apiVersion %q not supported: send admission.k8s.io/v1", review.APIVersion)
	case review.Kind != "AdmissionReview":
		return review, http.StatusBadRequest, fmt.Errorf("kind %q not supported: send kind AdmissionReview", review.Kind)
	case review.Request == nil:
		return review, http.StatusBadRequest, fmt.Errorf("AdmissionReview has no request")
	case review.Request.UID == "":
		return review, http.StatusBadRequest, fmt.Errorf("request.uid is empty")
	}
	return review, http.StatusOK, nil
}

func writeReview(w http.ResponseWriter, status int, in *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) {
	out := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: resp}
	if in.APIVersion == "admission.k8s.io/v1beta1" {
		out.APIVersion = in.APIVersion
	}
	if in.Request != nil {
		resp.UID = in.Request.UID
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}
