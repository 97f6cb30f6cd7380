package certs

import (
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// nameScope narrows list and watch requests on the given collections to one
// object by adding fieldSelector=metadata.name=NAME. cert-controller builds
// its own informer cache from the manager's rest.Config and takes no
// selectors, so without this it would list every Secret in the namespace and
// every MutatingWebhookConfiguration; with it, RBAC rules restricted by
// resourceNames suffice (the API server authorizes a list or watch that
// selects metadata.name as a request for that name).
type nameScope struct {
	next http.RoundTripper
	// names maps a collection path suffix, e.g.
	// "/api/v1/namespaces/ns/secrets", to the one name to select.
	names map[string]string
}

func (s *nameScope) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return s.next.RoundTrip(req)
	}
	name, ok := s.lookup(req.URL.Path)
	if !ok {
		return s.next.RoundTrip(req)
	}
	q := req.URL.Query()
	sel := fields.OneTermEqualSelector(metav1.ObjectNameField, name)
	if existing := q.Get("fieldSelector"); existing != "" {
		parsed, err := fields.ParseSelector(existing)
		if err != nil {
			return nil, fmt.Errorf("parsing fieldSelector %q of %s: %w", existing, req.URL.Path, err)
		}
		if v, ok := parsed.RequiresExactMatch(metav1.ObjectNameField); ok && v == name {
			return s.next.RoundTrip(req)
		}
		sel = fields.AndSelectors(parsed, sel)
	}
	q.Set("fieldSelector", sel.String())
	scoped := req.Clone(req.Context())
	scoped.URL.RawQuery = q.Encode()
	return s.next.RoundTrip(scoped)
}

// lookup matches by suffix so a server URL with a path prefix (API proxies)
// still matches; a request for one object ends in its name instead.
func (s *nameScope) lookup(path string) (string, bool) {
	for suffix, name := range s.names {
		if strings.HasSuffix(path, suffix) {
			return name, true
		}
	}
	return "", false
}

func scopedCollections(o Options) map[string]string {
	return map[string]string{
		"/api/v1/namespaces/" + o.Namespace + "/secrets":                      o.SecretName,
		"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations": o.WebhookConfiguration,
	}
}
