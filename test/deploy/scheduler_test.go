package deploy

import (
	"context"
	"slices"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"
	"sigs.k8s.io/yaml"
)

// TestSchedulerRBAC: the scheduler's ClusterRole covers the API server's
// own system:kube-scheduler and system:volume-scheduler roles (but for
// their kube-scheduler Lease: it has its own), and its ServiceAccount may
// do what the SparkGang plugin and leader election need, and nothing of
// kube-scheduler's own Lease or of Secrets.
func TestSchedulerRBAC(t *testing.T) {
	ctx := context.Background()
	r := render(t, "sparkplane-sched", "sparkplane-sched", "--set", "scheduler.enabled=true")
	r.apply(t)
	user := r.serviceAccountUser(t, "scheduler")
	lease := r.fullname() + "-scheduler"

	chart := typed[rbacv1.ClusterRole](t, r.get(t, "ClusterRole", lease))
	for _, name := range []string{"system:kube-scheduler", "system:volume-scheduler"} {
		builtin, err := shared.cp.Client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules := slices.DeleteFunc(builtin.Rules, func(rule rbacv1.PolicyRule) bool { return slices.Contains(rule.APIGroups, "coordination.k8s.io") })
		if ok, uncovered := rbacvalidation.Covers(chart.Rules, rules); !ok {
			t.Errorf("ClusterRole %s does not cover %s: missing %+v", lease, name, uncovered)
		}
	}

	waitForBinding(t, user, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "binding", Namespace: "default"})
	for _, tc := range []struct {
		attr authorizationv1.ResourceAttributes
		want bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "binding", Namespace: "spark"}, true},
		{authorizationv1.ResourceAttributes{Verb: "patch", Resource: "pods", Namespace: "spark"}, true},        // gang reservation annotation
		{authorizationv1.ResourceAttributes{Verb: "watch", Resource: "configmaps"}, true},                      // drivers' spark.properties
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "events.k8s.io", Resource: "events"}, true}, // scheduling events
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: r.namespace}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: r.namespace, Name: lease}, true},
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "configmaps", Namespace: "kube-system", Name: "extension-apiserver-authentication"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "kube-scheduler"}, false},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: r.namespace, Name: "other"}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "spark"}, false},
		{authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes"}, false},
	} {
		if got := allowed(t, user, tc.attr); got != tc.want {
			t.Errorf("%s may %s %s/%s %q in %q: %v, want %v", user, tc.attr.Verb, tc.attr.Resource, tc.attr.Subresource, tc.attr.Name, tc.attr.Namespace, got, tc.want)
		}
	}
}

// TestSchedulerFromChart runs `sparkplane scheduler` with the rendered
// Deployment's args and configuration as its ServiceAccount: it wins its
// Lease in the release namespace and binds a pod that names its profile.
func TestSchedulerFromChart(t *testing.T) {
	ctx := context.Background()
	r := render(t, "sparkplane-run", "sparkplane-run", "--set", "scheduler.enabled=true")
	r.apply(t)
	dep := r.deployment(t, "scheduler")
	user := r.serviceAccountUser(t, "scheduler")
	waitForBinding(t, user, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "binding", Namespace: "default"})
	waitForBinding(t, user, authorizationv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: r.namespace})

	// kube-scheduler ignores --kubeconfig once --config is given: the
	// client connection goes into the configuration, as in-cluster it is
	// the pod's ServiceAccount.
	kubeconfig := kubeconfigAs(t, user)
	cm := typed[corev1.ConfigMap](t, r.get(t, "ConfigMap", r.fullname()+"-scheduler-config"))
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["scheduler-config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	args := replaceArgs(t, dep.Spec.Template.Spec.Containers[0].Args, map[string]string{"--config": writeFile(t, "scheduler-config.yaml", string(data))})
	sched := runProcess(t, append(args, "--secure-port="+itoa(port), "--bind-address=127.0.0.1",
		"--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig))

	nodes := createNodes(t, "on-demand", "zone-a")
	ns := shared.cp.Namespace(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
		SchedulerName: "sparkplane-scheduler",
		Containers:    []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}},
	}}
	if _, err := shared.cp.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the chart's scheduler to bind the pod", func() bool {
		if done, err := sched.exited(); done {
			t.Fatalf("sparkplane scheduler exited: %v\n%s", err, sched.out.String())
		}
		p, err := shared.cp.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == nodes["zone-a"]
	})
	l, err := shared.cp.Client.CoordinationV1().Leases(r.namespace).Get(ctx, r.fullname()+"-scheduler", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		t.Errorf("leader election Lease %s/%s-scheduler: %+v %v", r.namespace, r.fullname(), l, err)
	}
}

func allowed(t *testing.T, user string, attr authorizationv1.ResourceAttributes) bool {
	t.Helper()
	res, err := clientAs(t, user).AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(),
		&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status.Allowed
}
