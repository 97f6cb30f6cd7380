// Package loadgen drives an admission webhook over HTTPS on loopback and
// measures throughput and latency: closed loop (N workers back to back) for
// the maximum rate, open loop (a fixed arrival rate, latency counted from
// the scheduled send time so queueing is not hidden) for latency at a load.
package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Target is the webhook under load.
type Target struct {
	URL      string
	CABundle []byte
	// Bodies are AdmissionReview request bodies, sent round robin.
	Bodies [][]byte
}

// Result of one run.
type Result struct {
	Requests int
	Errors   int
	Patched  int
	Duration time.Duration
	P50, P99 time.Duration
	Max      time.Duration
	FirstErr error
	// DispatchLag is the open loop's largest delay in sending a request
	// after its scheduled time (the client's own scheduling, not the server).
	DispatchLag time.Duration
}

// Rate is requests per second.
func (r Result) Rate() float64 { return float64(r.Requests) / r.Duration.Seconds() }

// ReviewBody wraps a pod in an AdmissionReview as the API server sends it.
func ReviewBody(pod *corev1.Pod, uid string) ([]byte, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: pod.Namespace,
			Name: pod.Name, Operation: admissionv1.Create,
		},
	}
	review.Request.Object.Raw = raw
	return json.Marshal(review)
}

func client(t Target, conns int) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(t.CABundle) {
		return nil, fmt.Errorf("no certificate in CA bundle")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
	}}, nil
}

func send(c *http.Client, url string, body []byte) (bool, error) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("HTTP %d: %s", resp.StatusCode, out)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &review); err != nil || review.Response == nil {
		return false, fmt.Errorf("bad response %q: %v", out, err)
	}
	if !review.Response.Allowed {
		return false, fmt.Errorf("denied: %v", review.Response.Result)
	}
	return len(review.Response.Patch) > 0, nil
}

// warm opens n connections (TLS handshakes included) before measuring.
func warm(c *http.Client, t Target, n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _ = send(c, t.URL, t.Bodies[i%len(t.Bodies)])
		}(i)
	}
	wg.Wait()
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	patched   int
	firstErr  error
}

func (r *recorder) add(d time.Duration, patched bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, d)
	if err != nil {
		r.errors++
		if r.firstErr == nil {
			r.firstErr = err
		}
	}
	if patched {
		r.patched++
	}
}

func (r *recorder) result(elapsed time.Duration) Result {
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	res := Result{Requests: len(r.latencies), Errors: r.errors, Patched: r.patched, Duration: elapsed, FirstErr: r.firstErr}
	if n := len(r.latencies); n > 0 {
		res.P50 = r.latencies[n*50/100]
		res.P99 = r.latencies[min(n-1, n*99/100)]
		res.Max = r.latencies[n-1]
	}
	return res
}

// Closed sends requests back to back from `workers` goroutines for d.
func Closed(ctx context.Context, t Target, workers int, d time.Duration) (Result, error) {
	c, err := client(t, workers)
	if err != nil {
		return Result{}, err
	}
	warm(c, t, workers)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var rec recorder
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				body := t.Bodies[int(next.Add(1))%len(t.Bodies)]
				s := time.Now()
				patched, err := send(c, t.URL, body)
				rec.add(time.Since(s), patched, err)
			}
		}()
	}
	wg.Wait()
	return rec.result(time.Since(start)), nil
}

// Open sends `rate` requests per second for d, each at its scheduled time
// whatever the previous ones do; latency counts from the scheduled time.
func Open(ctx context.Context, t Target, rate int, d time.Duration) (Result, error) {
	const workers = 64
	c, err := client(t, workers)
	if err != nil {
		return Result{}, err
	}
	warm(c, t, workers)
	type job struct {
		at   time.Time
		body []byte
	}
	jobs := make(chan job, rate)
	var rec recorder
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				patched, err := send(c, t.URL, j.body)
				rec.add(time.Since(j.at), patched, err)
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	var maxLag time.Duration
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		if lag := time.Since(at); lag > maxLag {
			maxLag = lag
		}
		jobs <- job{at: time.Now(), body: t.Bodies[i%len(t.Bodies)]}
	}
	close(jobs)
	wg.Wait()
	res := rec.result(time.Since(start))
	res.DispatchLag = maxLag
	return res, nil
}
