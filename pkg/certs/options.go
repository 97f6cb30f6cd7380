package certs

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Default durations. The CA is trusted by exactly one thing, the caBundle of
// one MutatingWebhookConfiguration, and each CA rotation swaps that bundle
// at once while webhook pods serve the old certificate until the kubelet
// refreshes their volume (about a minute), so the CA lives long and rotates
// rarely. The serving certificate, whose key sits in every webhook pod, is
// short-lived; renewing it keeps the CA, so its rotation has no gap.
const (
	DefaultCAValidity            = 5 * 365 * 24 * time.Hour
	DefaultCertValidity          = 90 * 24 * time.Hour
	DefaultLookahead             = 30 * 24 * time.Hour
	DefaultRotationCheckInterval = time.Hour
)

// Options configure the certificate controller. The names default to those
// the Helm chart uses for release "sparkplane" in "sparkplane-system".
type Options struct {
	Namespace            string // --namespace: of the Secret and the Service
	SecretName           string // --secret-name: existing Secret to fill (Opaque, created empty by the chart)
	ServiceName          string // --service-name: Service in front of the webhook
	WebhookConfiguration string // --webhook-configuration: MutatingWebhookConfiguration to inject the CA into
	// CertDir is where the Secret is mounted into this pod (--cert-dir).
	// cert-controller assumes it runs beside the webhook and waits for
	// CertDir/tls.crt to exist; it gives up (and the command exits) if that
	// never happens.
	CertDir string

	CAValidity            time.Duration // --ca-validity
	CertValidity          time.Duration // --cert-validity
	Lookahead             time.Duration // --lookahead: renew when a certificate expires within this
	RotationCheckInterval time.Duration // --rotation-check-interval

	HealthProbeBindAddress string // --health-probe-bind-address; "0" disables
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{
		Namespace:              "sparkplane-system",
		SecretName:             "sparkplane-webhook-tls",
		ServiceName:            "sparkplane-webhook",
		WebhookConfiguration:   "sparkplane",
		CertDir:                "/tls",
		CAValidity:             DefaultCAValidity,
		CertValidity:           DefaultCertValidity,
		Lookahead:              DefaultLookahead,
		RotationCheckInterval:  DefaultRotationCheckInterval,
		HealthProbeBindAddress: ":8081",
	}
}

// DNSName is the name the API server uses for a webhook behind a Service
// reference; the serving certificate is issued for it.
func (o Options) DNSName() string { return o.ServiceName + "." + o.Namespace + ".svc" }

// DNSNames are all names in the serving certificate.
func (o Options) DNSNames() []string {
	return []string{o.DNSName(), o.DNSName() + ".cluster.local"}
}

// Validate reports every invalid option, naming its flag and the fix.
func (o Options) Validate() error {
	var errs []error
	name := func(flag, value, what string, check func(string) []string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("--%s is required: the %s", flag, what))
			return
		}
		if msgs := check(value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--%s %q is not a valid %s name: %s", flag, value, what, strings.Join(msgs, "; ")))
		}
	}
	name("namespace", o.Namespace, "namespace of the Secret and Service", validation.IsDNS1123Label)
	name("secret-name", o.SecretName, "Secret to fill", validation.IsDNS1123Subdomain)
	name("service-name", o.ServiceName, "Service in front of the webhook", validation.IsDNS1035Label)
	name("webhook-configuration", o.WebhookConfiguration, "MutatingWebhookConfiguration to inject the CA into", validation.IsDNS1123Subdomain)
	if o.CertDir == "" {
		errs = append(errs, errors.New("--cert-dir is required: mount the Secret there (read-only, optional: true)"))
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"ca-validity", o.CAValidity},
		{"cert-validity", o.CertValidity},
		{"lookahead", o.Lookahead},
		{"rotation-check-interval", o.RotationCheckInterval},
	} {
		if d.value < time.Second {
			errs = append(errs, fmt.Errorf("--%s %s must be at least 1s", d.flag, d.value))
		}
	}
	if o.CertValidity > o.CAValidity {
		errs = append(errs, fmt.Errorf("--cert-validity %s exceeds --ca-validity %s: a certificate cannot outlive its CA; shorten --cert-validity", o.CertValidity, o.CAValidity))
	}
	if o.Lookahead >= o.CertValidity {
		errs = append(errs, fmt.Errorf("--lookahead %s must be shorter than --cert-validity %s, or every check renews the certificate; e.g. a third of it", o.Lookahead, o.CertValidity))
	}
	if o.RotationCheckInterval >= o.Lookahead {
		errs = append(errs, fmt.Errorf("--rotation-check-interval %s must be shorter than --lookahead %s, or a certificate can expire between two checks", o.RotationCheckInterval, o.Lookahead))
	}
	if a := o.HealthProbeBindAddress; a != "0" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("--health-probe-bind-address %q: %w; use host:port, :port, or 0 to disable", a, err))
		}
	}
	return errors.Join(errs...)
}
