package webhook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
)

func TestRequiredPermissions(t *testing.T) {
	escape := v1alpha1.Default()
	escape.AvailabilityEscape.Enabled = true
	for _, tc := range []struct {
		name string
		cfg  *v1alpha1.SparkplaneConfiguration
		want []string
	}{
		{"defaults: the informers and events", v1alpha1.Default(), []string{"list pods", "watch pods", "list nodes", "watch nodes", "create events", "patch events"}},
		{"escape: also its writes", escape, []string{"list pods", "watch pods", "list nodes", "watch nodes", "create events", "patch events", "patch pods", "delete pods"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range RequiredPermissions(tc.cfg) {
				got = append(got, p.String())
				if p.Why == "" {
					t.Errorf("%s: no reason", p)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("permissions %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCheckPermissions answers the reviews from a table (the decision is the
// API server's; the real one is exercised in test/deploy) and checks the
// error names exactly the denied permissions and the fix.
func TestCheckPermissions(t *testing.T) {
	escape := v1alpha1.Default()
	escape.AvailabilityEscape.Enabled = true
	for _, tc := range []struct {
		name        string
		denied      []string // "verb resource"
		reviewErr   error
		wantErr     []string
		wantMissing []string
	}{
		{name: "all granted"},
		{name: "nodes list denied", denied: []string{"list nodes"}, wantMissing: []string{"list nodes"},
			wantErr: []string{"system:serviceaccount:ns1:sp-webhook lacks 1 permission", "list nodes (cluster-wide)", "ClusterRole sp-webhook", "--skip-permission-check"}},
		{name: "escape writes denied", denied: []string{"patch pods", "delete pods"}, wantMissing: []string{"patch pods", "delete pods"},
			wantErr: []string{"lacks 2 permission", "delete pods (cluster-wide)", "availabilityEscape.enabled=true"}},
		{name: "events denied", denied: []string{"create events", "patch events"}, wantMissing: []string{"create events", "patch events"},
			wantErr: []string{"lacks 2 permission", "create events (cluster-wide), for InvalidAnnotation and InvalidPatch events on Spark pods", "ClusterRole sp-webhook"}},
		{name: "reviews fail", reviewErr: errors.New("connection refused"), wantErr: []string{"SelfSubjectAccessReview", "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if tc.reviewErr != nil {
					return true, nil, tc.reviewErr
				}
				r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
				attr := r.Spec.ResourceAttributes
				r.Status.Allowed = !slices.Contains(tc.denied, attr.Verb+" "+attr.Resource)
				return true, r, nil
			})
			client.PrependReactor("create", "selfsubjectreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				r := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.SelfSubjectReview)
				r.Status.UserInfo.Username = "system:serviceaccount:ns1:sp-webhook"
				return true, r, nil
			})
			err := CheckPermissions(context.Background(), client, RequiredPermissions(escape))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
			var perr *PermissionError
			if tc.wantMissing == nil {
				if errors.As(err, &perr) {
					t.Errorf("a failed review reported as missing permissions: %v", err)
				}
				return
			}
			if !errors.As(err, &perr) {
				t.Fatalf("error is no *PermissionError: %v", err)
			}
			var missing []string
			for _, p := range perr.Missing {
				missing = append(missing, p.String())
			}
			if !slices.Equal(missing, tc.wantMissing) {
				t.Errorf("missing %v, want %v", missing, tc.wantMissing)
			}
		})
	}
}
