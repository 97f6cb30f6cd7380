package certs

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Options) {}, nil},
		{"short test durations", func(o *Options) {
			o.CAValidity, o.CertValidity, o.Lookahead, o.RotationCheckInterval = 30*time.Second, 25*time.Second, 20*time.Second, time.Second
		}, nil},
		{"probes disabled", func(o *Options) { o.HealthProbeBindAddress = "0" }, nil},
		{"missing names", func(o *Options) { o.Namespace, o.SecretName, o.ServiceName, o.WebhookConfiguration = "", "", "", "" },
			[]string{"--namespace is required", "--secret-name is required", "--service-name is required", "--webhook-configuration is required"}},
		{"bad names", func(o *Options) { o.Namespace, o.ServiceName = "Sparkplane", "1webhook" },
			[]string{`--namespace "Sparkplane" is not a valid`, `--service-name "1webhook" is not a valid`}},
		{"no cert dir", func(o *Options) { o.CertDir = "" }, []string{"--cert-dir is required"}},
		{"zero duration", func(o *Options) { o.RotationCheckInterval = 0 }, []string{"--rotation-check-interval 0s must be at least 1s"}},
		{"cert outlives CA", func(o *Options) { o.CertValidity = 2 * o.CAValidity }, []string{"--cert-validity", "exceeds --ca-validity"}},
		{"lookahead covers the whole validity", func(o *Options) { o.Lookahead = o.CertValidity }, []string{"--lookahead 2160h0m0s must be shorter than --cert-validity 2160h0m0s"}},
		{"check interval longer than lookahead", func(o *Options) { o.RotationCheckInterval = o.Lookahead + time.Hour }, []string{"--rotation-check-interval", "shorter than --lookahead"}},
		{"bad probe address", func(o *Options) { o.HealthProbeBindAddress = "8081" }, []string{`--health-probe-bind-address "8081"`, "host:port"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.modify(&o)
			err := o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDNSNames(t *testing.T) {
	o := DefaultOptions()
	got := strings.Join(o.DNSNames(), ",")
	if want := "sparkplane-webhook.sparkplane-system.svc,sparkplane-webhook.sparkplane-system.svc.cluster.local"; got != want {
		t.Errorf("DNSNames = %s, want %s", got, want)
	}
}

// recorder is the next RoundTripper: it keeps the request it was given.
type recorder struct{ got *http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

func TestNameScope(t *testing.T) {
	o := DefaultOptions()
	const (
		secrets = "/api/v1/namespaces/sparkplane-system/secrets"
		mwcs    = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
	)
	tests := []struct {
		name, method, url string
		wantSelector      string // "" means the request passes unchanged
	}{
		{"list secrets", http.MethodGet, secrets + "?limit=500&resourceVersion=0", "metadata.name=sparkplane-webhook-tls"},
		{"watch secrets", http.MethodGet, secrets + "?watch=true&resourceVersion=12", "metadata.name=sparkplane-webhook-tls"},
		{"list configurations", http.MethodGet, mwcs + "?limit=500", "metadata.name=sparkplane"},
		{"behind a proxy path prefix", http.MethodGet, "/k8s/clusters/c-1" + mwcs, "metadata.name=sparkplane"},
		{"existing selector is kept", http.MethodGet, secrets + "?fieldSelector=type%3Dkubernetes.io%2Ftls", "type=kubernetes.io/tls,metadata.name=sparkplane-webhook-tls"},
		{"already scoped", http.MethodGet, secrets + "?fieldSelector=metadata.name%3Dsparkplane-webhook-tls", ""},
		{"get one secret", http.MethodGet, secrets + "/sparkplane-webhook-tls", ""},
		{"update one secret", http.MethodPut, secrets + "/sparkplane-webhook-tls", ""},
		{"secrets of another namespace", http.MethodGet, "/api/v1/namespaces/other/secrets", ""},
		{"self subject access review", http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := &recorder{}
			scope := &nameScope{next: next, names: scopedCollections(o)}
			req, err := http.NewRequest(tc.method, "https://apiserver.example"+tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := req.URL.String()
			if _, err := scope.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != before {
				t.Errorf("caller's request was modified: %s", req.URL)
			}
			q, _ := url.ParseQuery(next.got.URL.RawQuery)
			if tc.wantSelector == "" {
				if next.got.URL.String() != before {
					t.Errorf("request changed to %s, want unchanged", next.got.URL)
				}
				return
			}
			if got := q.Get("fieldSelector"); got != tc.wantSelector {
				t.Errorf("fieldSelector = %q, want %q", got, tc.wantSelector)
			}
			orig, _ := url.ParseQuery(req.URL.RawQuery)
			for k := range orig {
				if k != "fieldSelector" && q.Get(k) != orig.Get(k) {
					t.Errorf("query %s changed: %q -> %q", k, orig.Get(k), q.Get(k))
				}
			}
		})
	}
}
