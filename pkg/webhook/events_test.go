package webhook

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// recorded drains a FakeRecorder's events without blocking.
func recorded(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func testPod(ns, name, uid string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}
}

// Events on a pod being admitted wait for the pod (which has a UID only
// once created), once per distinct event, and expire; events on a cached pod
// are recorded at once.
func TestPodEvents(t *testing.T) {
	driver := testPod("ns", "drv", "uid-d")
	cached := map[string]*corev1.Pod{"ns/drv": driver}
	lookup := func(key string) (*corev1.Pod, bool) { p, ok := cached[key]; return p, ok }
	for _, tt := range []struct {
		name string
		run  func(e *PodEvents, clock *time.Time)
		want []string
	}{
		{"waits for the pod, then records on it", func(e *PodEvents, _ *time.Time) {
			e.Admitted("ns", "e-1", ReasonInvalidAnnotation, "bad")
			e.OnAdd(testPod("ns", "e-2", "uid-2"), false) // another pod: nothing
			e.OnAdd(testPod("ns", "e-1", "uid-1"), false)
			e.OnAdd(testPod("ns", "e-1", "uid-1"), false) // delivered once only
		}, []string{"Warning InvalidAnnotation bad"}},
		{"repeats (reinvocation) are recorded once", func(e *PodEvents, _ *time.Time) {
			e.Admitted("ns", "e-1", ReasonInvalidAnnotation, "bad")
			e.Admitted("ns", "e-1", ReasonInvalidAnnotation, "bad")
			e.Admitted("ns", "e-1", ReasonInvalidPatch, "worse")
			e.OnAdd(testPod("ns", "e-1", "uid-1"), false)
		}, []string{"Warning InvalidAnnotation bad", "Warning InvalidPatch worse"}},
		{"a pod that never came expires", func(e *PodEvents, clock *time.Time) {
			e.Admitted("ns", "e-1", ReasonInvalidAnnotation, "bad")
			*clock = clock.Add(pendingEventTTL + time.Second)
			e.OnAdd(testPod("ns", "e-1", "uid-1"), false)
		}, nil},
		{"no name, nothing to wait for", func(e *PodEvents, _ *time.Time) {
			e.Admitted("ns", "", ReasonInvalidAnnotation, "bad")
			e.OnAdd(testPod("ns", "", "uid-1"), false)
		}, nil},
		{"an existing pod gets it at once", func(e *PodEvents, _ *time.Time) {
			e.Existing("ns", "drv", ReasonInvalidAnnotation, "executor e-1: bad")
			e.Existing("ns", "gone", ReasonInvalidAnnotation, "executor e-1: bad")
		}, []string{"Warning InvalidAnnotation executor e-1: bad"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(100)
			e := NewPodEvents(rec, lookup, logr.Discard())
			clock := time.Unix(1000, 0)
			e.now = func() time.Time { return clock }
			tt.run(e, &clock)
			if got := recorded(rec); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("events %q, want %q", got, tt.want)
			}
			if e.Pending() > 1 {
				t.Errorf("%d pods still pending", e.Pending())
			}
		})
	}
}

// Events waiting for pods that never come cannot grow without bound: past
// maxPendingPods new ones are dropped until the old ones expire.
func TestPodEventsAreBounded(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	e := NewPodEvents(rec, func(string) (*corev1.Pod, bool) { return nil, false }, logr.Discard())
	clock := time.Unix(1000, 0)
	e.now = func() time.Time { return clock }
	for i := range maxPendingPods + 100 {
		e.Admitted("ns", fmt.Sprintf("e-%d", i), ReasonInvalidAnnotation, "bad")
	}
	if n := e.Pending(); n != maxPendingPods {
		t.Fatalf("%d pods pending, want the bound %d", n, maxPendingPods)
	}
	clock = clock.Add(pendingEventTTL + time.Second)
	e.Admitted("ns", "late", ReasonInvalidAnnotation, "bad")
	if n := e.Pending(); n != 1 {
		t.Errorf("%d pods pending after expiry, want 1 (the late one)", n)
	}
}
