package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// ChartClusterRole is the ClusterRole the Helm chart binds to the webhook's
// ServiceAccount with the default release name. The chart names the
// ClusterRole after the ServiceAccount, so error messages name the
// ServiceAccount's own name when the webhook runs as one.
const ChartClusterRole = "sparkplane-webhook"

// Permission is one cluster-wide API access the webhook needs, and why.
type Permission struct {
	Verb     string
	Group    string // "" is the core API group
	Resource string
	// Why names what needs the permission.
	Why string
	// Escape marks what only the availability escape needs.
	Escape bool
}

func (p Permission) String() string {
	if p.Group == "" {
		return p.Verb + " " + p.Resource
	}
	return p.Verb + " " + p.Resource + "." + p.Group
}

// RequiredPermissions lists what the webhook needs with cfg: what its
// informers list and watch, the events it records, and what the
// availability escape writes. It is the code's own account of its API use;
// the chart's ClusterRole grants exactly this (plus get, for kubectl-style
// debugging with its identity, and events in events.k8s.io too).
func RequiredPermissions(cfg *v1alpha1.SparkplaneConfiguration) []Permission {
	const pods, nodes = "the cache of Spark pods (drivers and where they run)", "the cache of node zone labels"
	const events = "InvalidAnnotation and InvalidPatch events on Spark pods"
	perms := []Permission{
		{Verb: "list", Resource: "pods", Why: pods},
		{Verb: "watch", Resource: "pods", Why: pods},
		{Verb: "list", Resource: "nodes", Why: nodes},
		{Verb: "watch", Resource: "nodes", Why: nodes},
		{Verb: "create", Resource: "events", Why: events},
		{Verb: "patch", Resource: "events", Why: events + " (repeats are patched)"},
	}
	if cfg.AvailabilityEscape.Enabled {
		perms = append(perms,
			Permission{Verb: "patch", Resource: "pods", Why: "availabilityEscape: marking an app's driver with its zone fallback", Escape: true},
			Permission{Verb: "delete", Resource: "pods", Why: "availabilityEscape: deleting executors stuck in their driver's zone", Escape: true},
		)
	}
	return perms
}

// PermissionError lists the permissions the API server denied.
type PermissionError struct {
	// User is the webhook's identity as the API server sees it ("" if unknown).
	User    string
	Missing []Permission
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	who, role := "the webhook's identity", ChartClusterRole
	if e.User != "" {
		who = e.User
		if sa, ok := strings.CutPrefix(e.User, "system:serviceaccount:"); ok {
			if _, name, ok := strings.Cut(sa, ":"); ok {
				role = name
			}
		}
	}
	fmt.Fprintf(&b, "%s lacks %d permission(s) the webhook's configuration needs (asked the API server with SelfSubjectAccessReviews):", who, len(e.Missing))
	for _, p := range e.Missing {
		fmt.Fprintf(&b, "\n  - %s (cluster-wide), for %s", p, p.Why)
	}
	fmt.Fprintf(&b, "\nGrant them in a ClusterRole bound to %s (the Helm chart's ClusterRole %s)", who, role)
	if slices.ContainsFunc(e.Missing, func(p Permission) bool { return p.Escape }) {
		b.WriteString("; the chart grants the availability escape's pod permissions only with availabilityEscape.enabled=true, or turn availabilityEscape.enabled off in the configuration")
	}
	b.WriteString(". Without them the webhook would start with an empty cache or a failing escape; --skip-permission-check starts it anyway.")
	return b.String()
}

// CheckPermissions asks the API server, with one SelfSubjectAccessReview per
// permission, whether the caller's identity has each of perms across all
// namespaces. It returns a *PermissionError naming every permission denied
// and how to grant it, or an error if the reviews themselves fail. Every
// authenticated user may create SelfSubjectAccessReviews and
// SelfSubjectReviews (the system:basic-user ClusterRole), so the check
// needs no grant of its own.
func CheckPermissions(ctx context.Context, client kubernetes.Interface, perms []Permission) error {
	var missing []Permission
	for _, p := range perms {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource},
		}}
		res, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("checking permission %q: the API server does not serve SelfSubjectAccessReviews (authorization.k8s.io/v1); use --skip-permission-check: %w", p, err)
		}
		if err != nil {
			return fmt.Errorf("checking permission %q with a SelfSubjectAccessReview: %w", p, err)
		}
		if !res.Status.Allowed || res.Status.Denied {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	perr := &PermissionError{Missing: missing}
	// Only to name the identity in the message; without it the message is generic.
	if r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err == nil {
		perr.User = r.Status.UserInfo.Username
	}
	return perr
}

// watchErrorHandler logs an informer's list/watch failure. A Forbidden error
// (a permission revoked while the webhook runs, or never granted when the
// start-up check was skipped) is logged as an error that names the missing
// access and the fix; the informer keeps retrying with back-off and
// /readyz stays false until its first list succeeds. Other errors go to
// client-go's default handler.
func watchErrorHandler(resource string) toolscache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, r *toolscache.Reflector, err error) {
		if !apierrors.IsForbidden(err) {
			toolscache.DefaultWatchErrorHandler(ctx, r, err)
			return
		}
		klog.FromContext(ctx).Error(err, "The webhook may not list or watch "+resource+": its cache is stale or empty and Spark pods are admitted without placement until this is fixed; "+
			"grant list and watch on "+resource+" cluster-wide in the ClusterRole bound to the webhook's ServiceAccount (the Helm chart's ClusterRole <release>-webhook, "+ChartClusterRole+" by default)",
			"resource", resource)
	}
}
