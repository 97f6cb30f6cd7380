package webhook

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

// ChartClusterRole is the ClusterRole the Helm chart binds to the webhook's
// ServiceAccount (with the default release name); error messages name it.
const ChartClusterRole = "sparkplane-webhook"

// Permission is one cluster-wide API access the webhook needs, and why.
type Permission struct {
	Verb     string
	Group    string // "" is the core API group
	Resource string
	// Why names what needs the permission; Fix says how to get it.
	Why string
	Fix string
}

func (p Permission) String() string {
	if p.Group == "" {
		return p.Verb + " " + p.Resource
	}
	return p.Verb + " " + p.Resource + "." + p.Group
}

// RequiredPermissions lists what the webhook needs with cfg: what its
// informers list and watch, and what the availability escape writes. It is
// the code's own account of its API use; the chart's ClusterRole grants
// exactly this (plus get, for kubectl-style debugging with its identity).
func RequiredPermissions(cfg *v1alpha1.SparkplaneConfiguration) []Permission {
	const base = "grant it in the ClusterRole bound to the webhook's ServiceAccount (the Helm chart's ClusterRole " + ChartClusterRole + ")"
	perms := []Permission{
		{Verb: "list", Resource: "pods", Why: "the cache of Spark pods (drivers and where they run)", Fix: base},
		{Verb: "watch", Resource: "pods", Why: "the cache of Spark pods (drivers and where they run)", Fix: base},
		{Verb: "list", Resource: "nodes", Why: "the cache of node zone labels", Fix: base},
		{Verb: "watch", Resource: "nodes", Why: "the cache of node zone labels", Fix: base},
	}
	if cfg.AvailabilityEscape.Enabled {
		const fix = base + "; the chart grants it when availabilityEscape.enabled=true, or turn availabilityEscape.enabled off in the configuration"
		perms = append(perms,
			Permission{Verb: "patch", Resource: "pods", Why: "availabilityEscape: marking an app's driver with its zone fallback", Fix: fix},
			Permission{Verb: "delete", Resource: "pods", Why: "availabilityEscape: deleting executors stuck in their driver's zone", Fix: fix},
			Permission{Verb: "create", Resource: "events", Why: "availabilityEscape: ZoneFallback events", Fix: fix},
			Permission{Verb: "patch", Resource: "events", Why: "availabilityEscape: ZoneFallback events (repeats are patched)", Fix: fix},
		)
	}
	return perms
}

// PermissionError lists the permissions the API server denied.
type PermissionError struct {
	Missing []Permission
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the webhook's identity lacks %d permission(s) its configuration needs (asked the API server with SelfSubjectAccessReviews):", len(e.Missing))
	for _, p := range e.Missing {
		fmt.Fprintf(&b, "\n  - %s (cluster-wide), for %s: %s", p, p.Why, p.Fix)
	}
	b.WriteString("\nWithout them the webhook would start but never see Spark pods or nodes, or its escape would fail; --skip-permission-check starts it anyway.")
	return b.String()
}

// CheckPermissions asks the API server, with one SelfSubjectAccessReview per
// permission, whether the caller's identity has each of perms across all
// namespaces. It returns a *PermissionError naming every permission denied
// (and how to grant it), or an error if the reviews themselves fail. Every
// authenticated user may create SelfSubjectAccessReviews (the
// system:basic-user ClusterRole), so the check needs no extra grant.
func CheckPermissions(ctx context.Context, reviews authorizationclient.SelfSubjectAccessReviewInterface, perms []Permission) error {
	var missing []Permission
	for _, p := range perms {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource},
		}}
		res, err := reviews.Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("checking permission %q with a SelfSubjectAccessReview: %w (use --skip-permission-check if the API server does not serve authorization.k8s.io/v1)", p, err)
		}
		if !res.Status.Allowed || res.Status.Denied {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return &PermissionError{Missing: missing}
	}
	return nil
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
			"grant list and watch on "+resource+" cluster-wide in the ClusterRole bound to the webhook's ServiceAccount (the Helm chart's ClusterRole "+ChartClusterRole+")",
			"resource", resource)
	}
}
