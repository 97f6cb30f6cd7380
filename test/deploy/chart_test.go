package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedulervalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"

	"github.com/sparkplane/sparkplane/pkg/apis/config/v1alpha1"
	"github.com/sparkplane/sparkplane/pkg/scheduler"
)

func TestHelmLint(t *testing.T) {
	for _, flags := range [][]string{
		{"--strict"},
		{"--strict", "--set", "certManager.enabled=true,scheduler.enabled=true,config.availabilityEscape.enabled=true,webhook.metrics.serviceMonitor.enabled=true"},
	} {
		out, err := helmRun(t, append([]string{"lint", chartDir}, flags...)...)
		if err != nil || !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint %s: %v\n%s", strings.Join(flags, " "), err, out)
		}
	}
}

// TestTemplate renders the chart with several value sets and checks what
// each must contain, decoding every configuration with the loader the
// component itself uses.
func TestTemplate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		check func(t *testing.T, r *release)
	}{
		{"defaults", nil, func(t *testing.T, r *release) {
			dep := r.deployment(t, "webhook")
			if *dep.Spec.Replicas != 2 {
				t.Errorf("webhook replicas %d, want 2", *dep.Spec.Replicas)
			}
			checkHardened(t, dep.Spec.Template.Spec)
			var spread []string
			for _, c := range dep.Spec.Template.Spec.TopologySpreadConstraints {
				spread = append(spread, c.TopologyKey)
			}
			if !slices.Equal(spread, []string{corev1.LabelTopologyZone, corev1.LabelHostname}) {
				t.Errorf("webhook spread over %v, want zone and hostname", spread)
			}
			if _, ok := dep.Spec.Template.Annotations["checksum/config"]; !ok {
				t.Error("webhook pods have no checksum/config annotation: a config change would not roll them")
			}
			pdb := r.get(t, "PodDisruptionBudget", "sparkplane-webhook")
			if v, _, _ := unstructured.NestedInt64(pdb.Object, "spec", "minAvailable"); v != 1 {
				t.Errorf("PDB minAvailable %d, want 1", v)
			}
			mwc := typed[admissionregistrationv1.MutatingWebhookConfiguration](t, r.get(t, "MutatingWebhookConfiguration", "sparkplane"))
			checkWebhookConfiguration(t, mwc, admissionregistrationv1.Ignore, 3)
			sel := mwc.Webhooks[0].NamespaceSelector.MatchExpressions
			if len(sel) != 1 || sel[0].Operator != metav1.LabelSelectorOpNotIn || !slices.Equal(sel[0].Values, []string{"kube-system", "sparkplane-system"}) {
				t.Errorf("namespaceSelector %+v, want every namespace but kube-system and the release's", sel)
			}
			secret := typed[corev1.Secret](t, r.get(t, "Secret", "sparkplane-webhook-tls"))
			if len(secret.Data) != 0 || len(secret.StringData) != 0 {
				t.Errorf("the chart declares data in the TLS Secret (helm upgrade would reset or conflict with the certs controller's): %v", keys(secret.Data))
			}
			checkRuleVerbs(t, r, "sparkplane-webhook", "pods", []string{"get", "list", "watch"})
			checkCertsRBAC(t, r)
			checkNoSecretsAccess(t, r, "sparkplane-webhook")
			if r.has("Deployment", "sparkplane-scheduler") || r.has("Certificate", "sparkplane-webhook") {
				t.Error("scheduler or cert-manager objects rendered by default")
			}
			cfg := parseConfig(t, r)
			if cfg.Provider.Preset != v1alpha1.ProviderKarpenter || cfg.AvailabilityEscape.Enabled {
				t.Errorf("default config: preset %s, escape %v", cfg.Provider.Preset, cfg.AvailabilityEscape.Enabled)
			}
		}},
		{"cert-manager", []string{"--set", "certManager.enabled=true"}, func(t *testing.T, r *release) {
			mwc := r.get(t, "MutatingWebhookConfiguration", "sparkplane")
			if got := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != "sparkplane-system/sparkplane-webhook" {
				t.Errorf("inject-ca-from %q", got)
			}
			cert := r.get(t, "Certificate", "sparkplane-webhook")
			if s, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); s != "sparkplane-webhook-tls" {
				t.Errorf("Certificate writes Secret %q", s)
			}
			r.get(t, "Issuer", "sparkplane-selfsigned")
			if r.has("Deployment", "sparkplane-certs") || r.has("Secret", "sparkplane-webhook-tls") {
				t.Error("certs controller or empty Secret rendered in cert-manager mode")
			}
		}},
		{"escape on, EKS, Fail, namespaces", []string{"--set", "config.availabilityEscape.enabled=true,config.availabilityEscape.window=2m,config.provider.preset=eks," +
			"webhook.failurePolicy=Fail,webhook.timeoutSeconds=5,webhook.namespaces={spark,etl}"}, func(t *testing.T, r *release) {
			checkRuleVerbs(t, r, "sparkplane-webhook", "pods", []string{"get", "list", "watch", "patch", "delete"})
			checkNoSecretsAccess(t, r, "sparkplane-webhook")
			cfg := parseConfig(t, r)
			if !cfg.AvailabilityEscape.Enabled || cfg.AvailabilityEscape.Window.Duration.String() != "2m0s" || cfg.Provider.Label != "eks.amazonaws.com/capacityType" {
				t.Errorf("config: escape %v window %s provider label %s", cfg.AvailabilityEscape.Enabled, cfg.AvailabilityEscape.Window.Duration, cfg.Provider.Label)
			}
			mwc := typed[admissionregistrationv1.MutatingWebhookConfiguration](t, r.get(t, "MutatingWebhookConfiguration", "sparkplane"))
			checkWebhookConfiguration(t, mwc, admissionregistrationv1.Fail, 5)
			sel := mwc.Webhooks[0].NamespaceSelector.MatchExpressions
			if len(sel) != 1 || sel[0].Operator != metav1.LabelSelectorOpIn || !slices.Equal(sel[0].Values, []string{"spark", "etl"}) {
				t.Errorf("namespaceSelector %+v, want In [spark etl]", sel)
			}
		}},
		// Issue 11 item 5: YAML reads an unquoted off in a values file as false.
		{"mode false is off", []string{"--set", "scheduler.enabled=true", "--set-json", "config.zonePinning.mode=false", "--set-json", "config.executor.mode=false"}, func(t *testing.T, r *release) {
			if cfg := parseConfig(t, r); cfg.ZonePinning.Mode != v1alpha1.ModeOff || cfg.Executor.Mode != v1alpha1.ModeOff {
				t.Errorf("webhook config modes %q, %q; want off", cfg.ZonePinning.Mode, cfg.Executor.Mode)
			}
			if args := parseSchedulerConfig(t, r); args.Placement.ZonePinning.Mode != v1alpha1.ModeOff || args.Placement.Executor.Mode != v1alpha1.ModeOff {
				t.Errorf("SparkGang placement modes %q, %q; want off", args.Placement.ZonePinning.Mode, args.Placement.Executor.Mode)
			}
		}},
		{"tolerations and quantities the schema allows", []string{"--set", "scheduler.enabled=true", "--set-json",
			`config.provider.spotTolerations=[{"key":"k","operator":"Equal","value":"v","effect":"NoSchedule"},{"operator":"Exists"},{"key":"a","effect":"NoExecute","tolerationSeconds":30}]`,
			"--set-json", `scheduler.gang.queues=[{"name":"etl","maxCPU":64,"maxMemory":"256Gi"},{"name":"adhoc","maxCPU":"500m","maxMemory":"1e9"}]`}, func(t *testing.T, r *release) {
			if cfg := parseConfig(t, r); len(cfg.Provider.SpotTolerations) != 3 {
				t.Errorf("spot tolerations %+v, want 3", cfg.Provider.SpotTolerations)
			}
			args := parseSchedulerConfig(t, r)
			if etl := args.Queue("etl"); len(args.Queues) != 2 || etl.MaxCPU.Value() != 64 {
				t.Errorf("queues %+v", args.Queues)
			}
		}},
		// Issue 12 item 4: drivers protected from voluntary disruption with the preset's annotation.
		{"gke protects drivers with cluster-autoscaler's annotation", []string{"--set", "config.provider.preset=gke"}, func(t *testing.T, r *release) {
			dp := parseConfig(t, r).DisruptionProtection
			if !dp.DriverProtected() || dp.ExecutorProtected() || len(dp.Annotations) != 1 || dp.Annotations[v1alpha1.AnnotationSafeToEvict] != "false" {
				t.Errorf("disruption protection %+v, want drivers only, with safe-to-evict=false", dp)
			}
		}},
		{"explicit protection annotations, executors protected", []string{"--set", "config.disruptionProtection.executor=true", "--set-json",
			`config.disruptionProtection.annotations={"karpenter.sh/do-not-disrupt":"true","example.com/keep":"yes"}`}, func(t *testing.T, r *release) {
			dp := parseConfig(t, r).DisruptionProtection
			if !dp.ExecutorProtected() || len(dp.Annotations) != 2 || dp.Annotations["example.com/keep"] != "yes" || dp.Annotations[v1alpha1.AnnotationKarpenterDoNotDisrupt] != "true" {
				t.Errorf("disruption protection %+v", dp)
			}
		}},
		{"aks keeps the preset's spot toleration", []string{"--set", "config.provider.preset=aks"}, func(t *testing.T, r *release) {
			cfg := parseConfig(t, r)
			if len(cfg.Provider.SpotTolerations) != 1 || cfg.Provider.SpotTolerations[0].Key != "kubernetes.azure.com/scalesetpriority" {
				t.Errorf("AKS spot tolerations %+v, want the preset's", cfg.Provider.SpotTolerations)
			}
		}},
		{"scheduler", []string{"--set", "scheduler.enabled=true,config.schedulerName=sparkplane-scheduler,config.zonePinning.mode=preferred",
			"--set-json", `scheduler.gang.queues=[{"name":"etl","maxCPU":"64","maxDriverShare":0.25}]`}, func(t *testing.T, r *release) {
			dep := r.deployment(t, "scheduler")
			checkHardened(t, dep.Spec.Template.Spec)
			args := parseSchedulerConfig(t, r)
			if args.Placement.ZonePinning.Mode != v1alpha1.ModePreferred || len(args.Queues) != 1 || args.Queues[0].Name != "etl" || args.Queues[0].MaxDriverShare != 0.25 {
				t.Errorf("SparkGang args: placement zone pinning %s, queues %+v", args.Placement.ZonePinning.Mode, args.Queues)
			}
			if cfg := parseConfig(t, r); cfg.SchedulerName != "sparkplane-scheduler" {
				t.Errorf("webhook config schedulerName %q", cfg.SchedulerName)
			}
			checkRuleVerbs(t, r, "sparkplane-scheduler", "configmaps", []string{"get", "list", "watch"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, render(t, "sparkplane", "sparkplane-system", tc.flags...))
		})
	}
}

// TestGrafanaDashboard ships dashboards/*.json (the audit helper's file)
// in a ConfigMap labelled for Grafana's sidecar.
func TestGrafanaDashboard(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(chartDir, "dashboards", "*.json"))
	if len(files) == 0 {
		t.Skip("the chart has no dashboards/*.json yet")
	}
	r := render(t, "sparkplane", "sparkplane-system", "--set", "grafanaDashboard.enabled=true")
	cm := typed[corev1.ConfigMap](t, r.get(t, "ConfigMap", "sparkplane-dashboards"))
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v", cm.Labels)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := cm.Data[filepath.Base(f)]; got != string(want) {
			t.Errorf("ConfigMap key %s does not hold %s", filepath.Base(f), f)
		}
	}
}

// TestSchemaRejectsBadValues: values.schema.json stops bad values with a
// message naming the value's path and what it accepts.
func TestSchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--set", "webhook.failurePolicy=Never"}, []string{"/webhook/failurePolicy", "'Ignore', 'Fail'"}},
		{[]string{"--set", "webhook.timeoutSeconds=60"}, []string{"/webhook/timeoutSeconds", "maximum"}},
		{[]string{"--set", "config.zonePinning.mode=sometimes"}, []string{"/config/zonePinning/mode", "'required', 'preferred', 'off'"}},
		{[]string{"--set", "config.driver.mode=true"}, []string{"/config/driver/mode", "'required', 'preferred', 'off'"}},
		{[]string{"--set", "config.provider.preset=custom"}, []string{"/config/provider/label", "/config/provider/spotValue"}},
		{[]string{"--set", "config.availabilityEscape.window=5"}, []string{"/config/availabilityEscape/window", "want string"}},
		{[]string{"--set", "webhook.replicas=3"}, []string{"/webhook", "additional properties 'replicas' not allowed"}},
		{[]string{"--set", "webhook.namespaces={Bad_Name}"}, []string{"/webhook/namespaces/0"}},
		// Issue 11 item 2: these tolerations made every executor unadmittable.
		{[]string{"--set-json", `config.provider={"preset":"aks","spotTolerations":[{"key":"","operator":"Bogus","effect":"Sometimes"}]}`},
			[]string{"/config/provider/spotTolerations/0/operator", "'Equal', 'Exists'", "/config/provider/spotTolerations/0/effect", "'NoSchedule', 'PreferNoSchedule', 'NoExecute'"}},
		{[]string{"--set-json", `config.provider.spotTolerations=[{"key":"k","operator":"Exists","value":"v"}]`}, []string{"/config/provider/spotTolerations/0/value", "value must be ''"}},
		{[]string{"--set-json", `config.provider.spotTolerations=[{"key":"a b","operator":"Exists"}]`}, []string{"/config/provider/spotTolerations/0/key", "does not match pattern"}},
		{[]string{"--set-json", `config.provider.spotTolerations=[{"key":"k","operator":"Exists","effect":"NoSchedule","tolerationSeconds":5}]`}, []string{"/config/provider/spotTolerations/0/effect", "value must be 'NoExecute'"}},
		// Issue 12 item 4: what the webhook writes into pods as annotations.
		{[]string{"--set-json", `config.disruptionProtection.annotations={"do not disrupt":"true"}`}, []string{"/config/disruptionProtection/annotations", "additional properties 'do not disrupt' not allowed"}},
		{[]string{"--set-json", `config.disruptionProtection.annotations={"sparkplane.io/zone-pinning":"off"}`}, []string{"/config/disruptionProtection/annotations/sparkplane.io~1zone-pinning", "'not' failed"}},
		{[]string{"--set-json", `config.disruptionProtection.annotations={"karpenter.sh/do-not-disrupt":true}`}, []string{"/config/disruptionProtection/annotations/karpenter.sh~1do-not-disrupt", "want string"}},
		{[]string{"--set", "config.disruptionProtection.driver=sometimes"}, []string{"/config/disruptionProtection/driver", "want boolean"}},
		// Issue 11 item 3: the scheduler failed to start on these.
		{[]string{"--set", "scheduler.gang.queues[0].name=etl,scheduler.gang.queues[0].maxCPU=lots"}, []string{"/scheduler/gang/queues/0/maxCPU", "'lots' does not match pattern"}},
		{[]string{"--set", "scheduler.gang.defaultQueue.maxMemory=4 GB"}, []string{"/scheduler/gang/defaultQueue/maxMemory", "does not match pattern"}},
		{[]string{"--set-json", `scheduler.gang.queues=[{"name":"etl","maxCPU":-2}]`}, []string{"/scheduler/gang/queues/0/maxCPU", "minimum"}},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			out, err := helmRun(t, append([]string{"template", "sparkplane", chartDir}, tc.flags...)...)
			if err == nil {
				t.Fatalf("helm template %s succeeded; want the schema to reject it", strings.Join(tc.flags, " "))
			}
			for _, w := range append([]string{"values don't meet the specifications of the schema"}, tc.want...) {
				if !strings.Contains(out, w) {
					t.Errorf("helm's error does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestApplyRendered server-side applies each rendering to the real API
// server: every object must pass its validation (pod templates, selectors,
// RBAC, webhook configuration), except kinds whose CRDs the test server
// lacks, which are listed.
func TestApplyRendered(t *testing.T) {
	for _, tc := range []struct {
		release, namespace string
		flags              []string
		wantSkipped        int
	}{
		{"sparkplane", "sparkplane-system", nil, 0},
		{"sparkplane-cm", "sparkplane-cm", []string{"--set", "certManager.enabled=true"}, 2},
		{"sparkplane-all", "sparkplane-all", []string{"--set", "scheduler.enabled=true,config.availabilityEscape.enabled=true,webhook.metrics.serviceMonitor.enabled=true," +
			"config.provider.preset=aks,webhook.namespaces={spark},webhook.priorityClassName=system-cluster-critical"}, 1},
	} {
		t.Run(tc.release, func(t *testing.T) {
			r := render(t, tc.release, tc.namespace, tc.flags...)
			skipped := r.apply(t)
			for _, s := range skipped {
				t.Logf("not applied (needs a CRD): %s", s)
			}
			if len(skipped) != tc.wantSkipped {
				t.Errorf("skipped %d objects, want %d: %v", len(skipped), tc.wantSkipped, skipped)
			}
			t.Logf("applied %d of %d rendered objects", len(r.objs)-len(skipped), len(r.objs))
		})
	}
}

// TestPodsMeetRestrictedPodSecurity creates (dry run) a pod from every
// rendered pod template in a namespace that enforces the "restricted" Pod
// Security Standard: the API server's PodSecurity admission rejects any
// root, privileged, capability-keeping or unconfined container.
func TestPodsMeetRestrictedPodSecurity(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	ns, err := shared.cp.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A pod that the standard rejects, so a pass below is not vacuous.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "root"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := shared.cp.Client.CoreV1().Pods(ns.Name).Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil {
		t.Fatal("the restricted namespace admitted an unhardened pod: PodSecurity admission is not enforcing")
	}
	r := render(t, "sparkplane", "sparkplane-system", "--set", "scheduler.enabled=true")
	for _, component := range []string{"webhook", "certs", "scheduler"} {
		tpl := r.deployment(t, component).Spec.Template
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: component, Labels: tpl.Labels}, Spec: tpl.Spec}
		if _, err := shared.cp.Client.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("%s pod rejected under the restricted Pod Security Standard: %v", component, err)
		}
	}
}

// TestHelmInstall installs and uninstalls the chart with helm itself
// against the API server (kubeVersion check, install order, NOTES.txt, an
// upgrade that keeps the certificate and caBundle the certs controller
// wrote), and checks the uninstall leaves no cluster-scoped object behind.
// HELM_VERSION=v4.x.y runs it (and the package) with Helm 4.
func TestHelmInstall(t *testing.T) {
	// The chart's kubeVersion constraint, checked against versions a real
	// cluster reports; the in-process API server reports an unstamped
	// v0.0.0-master, which no constraint accepts, so the install below
	// uses a copy of the chart without it.
	for v, ok := range map[string]bool{"1.26.9": false, "1.27.0": true} {
		out, err := helmRun(t, "template", "sparkplane", chartDir, "--kube-version", v)
		if (err == nil) != ok || (!ok && !strings.Contains(out, "chart requires kubeVersion")) {
			t.Errorf("helm template --kube-version %s: err %v, want accepted=%v:\n%s", v, err, ok, out)
		}
	}
	chart := filepath.Join(t.TempDir(), "sparkplane")
	if err := os.CopyFS(chart, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(meta), "\n") {
		if !strings.HasPrefix(l, "kubeVersion:") {
			lines = append(lines, l)
		}
	}
	if err := os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := shared.cp.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	out, err := helmRun(t, "install", "sparkplane-helm", chart, "--kubeconfig", kubeconfig, "--namespace", "sparkplane-helm", "--create-namespace",
		"--set", "scheduler.enabled=true")
	if err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	for _, want := range []string{"STATUS: deployed", "Deployment sparkplane-helm-certs issues the certificate", "spark.kubernetes.scheduler.name=sparkplane-scheduler"} {
		if !strings.Contains(out, want) {
			t.Errorf("helm install output lacks %q:\n%s", want, out)
		}
	}
	ctx := context.Background()
	if _, err := shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "sparkplane-helm", metav1.GetOptions{}); err != nil {
		t.Errorf("after helm install: %v", err)
	}
	// What `sparkplane certs` does to the chart's empty Secret (an update
	// as its own field manager); an upgrade must leave that alone.
	tls, err := shared.cp.Client.CoreV1().Secrets("sparkplane-helm").Get(ctx, "sparkplane-helm-webhook-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tls.Data = map[string][]byte{corev1.TLSCertKey: []byte("issued"), corev1.TLSPrivateKeyKey: []byte("key"), "ca.crt": []byte("ca")}
	if _, err := shared.cp.Client.CoreV1().Secrets("sparkplane-helm").Update(ctx, tls, metav1.UpdateOptions{FieldManager: "sparkplane-certs"}); err != nil {
		t.Fatal(err)
	}
	mwcs := shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc, err := mwcs.Get(ctx, "sparkplane-helm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mwc.Webhooks[0].ClientConfig.CABundle = []byte("ca")
	if _, err := mwcs.Update(ctx, mwc, metav1.UpdateOptions{FieldManager: "sparkplane-certs"}); err != nil {
		t.Fatal(err)
	}

	// An upgrade that turns the escape on grants its pod permissions.
	if out, err := helmRun(t, "upgrade", "sparkplane-helm", chart, "--kubeconfig", kubeconfig, "--namespace", "sparkplane-helm",
		"--reuse-values", "--set", "config.availabilityEscape.enabled=true"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	cr, err := shared.cp.Client.RbacV1().ClusterRoles().Get(ctx, "sparkplane-helm-webhook", metav1.GetOptions{})
	if err != nil || !slices.ContainsFunc(cr.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Verbs, "delete") }) {
		t.Errorf("after helm upgrade with the escape on, ClusterRole sparkplane-helm-webhook grants no delete: %+v %v", cr, err)
	}
	if tls, err := shared.cp.Client.CoreV1().Secrets("sparkplane-helm").Get(ctx, "sparkplane-helm-webhook-tls", metav1.GetOptions{}); err != nil || string(tls.Data[corev1.TLSCertKey]) != "issued" {
		t.Errorf("helm upgrade changed the issued certificate in the TLS Secret: %q %v", tls.Data[corev1.TLSCertKey], err)
	}
	if mwc, err := mwcs.Get(ctx, "sparkplane-helm", metav1.GetOptions{}); err != nil || string(mwc.Webhooks[0].ClientConfig.CABundle) != "ca" {
		t.Errorf("helm upgrade changed the injected caBundle: %v", err)
	}
	if out, err := helmRun(t, "uninstall", "sparkplane-helm", "--kubeconfig", kubeconfig, "--namespace", "sparkplane-helm", "--wait"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	if _, err := shared.cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "sparkplane-helm", metav1.GetOptions{}); err == nil {
		t.Error("MutatingWebhookConfiguration left after helm uninstall")
	}
	crs, err := shared.cp.Client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=sparkplane-helm"})
	if err != nil || len(crs.Items) != 0 {
		t.Errorf("ClusterRoles left after helm uninstall: %d (%v)", len(crs.Items), err)
	}
}

// checkHardened: non-root 65532, no privilege escalation, read-only root
// filesystem, every capability dropped, RuntimeDefault seccomp, resources.
func checkHardened(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s security context %+v", c.Name, sc)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s resources %+v", c.Name, c.Resources)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("container %s has no liveness or readiness probe", c.Name)
		}
	}
}

func checkWebhookConfiguration(t *testing.T, mwc *admissionregistrationv1.MutatingWebhookConfiguration, policy admissionregistrationv1.FailurePolicyType, timeout int32) {
	t.Helper()
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(mwc.Webhooks))
	}
	w := mwc.Webhooks[0]
	if w.Name != "pods.sparkplane.io" || *w.FailurePolicy != policy || *w.TimeoutSeconds != timeout ||
		*w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy || *w.SideEffects != admissionregistrationv1.SideEffectClassNone {
		t.Errorf("webhook %s: failurePolicy %s timeout %d reinvocation %s sideEffects %s", w.Name, *w.FailurePolicy, *w.TimeoutSeconds, *w.ReinvocationPolicy, *w.SideEffects)
	}
	sel := w.ObjectSelector.MatchExpressions
	if len(sel) != 1 || sel[0].Key != "spark-role" || sel[0].Operator != metav1.LabelSelectorOpExists {
		t.Errorf("objectSelector %+v, want spark-role Exists", w.ObjectSelector)
	}
	if w.ClientConfig.Service == nil || *w.ClientConfig.Service.Path != "/mutate-pods" || len(w.ClientConfig.CABundle) != 0 {
		t.Errorf("clientConfig %+v: want the Service at /mutate-pods and no caBundle (injected at run time)", w.ClientConfig)
	}
}

// checkRuleVerbs: the ClusterRole name grants exactly verbs on resource.
func checkRuleVerbs(t *testing.T, r *release, name, resource string, verbs []string) {
	t.Helper()
	cr := typed[rbacv1.ClusterRole](t, r.get(t, "ClusterRole", name))
	var got []string
	for _, rule := range cr.Rules {
		if slices.Contains(rule.Resources, resource) && slices.Contains(rule.APIGroups, "") {
			got = append(got, rule.Verbs...)
		}
	}
	if !slices.Equal(got, verbs) {
		t.Errorf("ClusterRole %s grants %v on %s, want %v", name, got, resource, verbs)
	}
}

// checkNoSecretsAccess: no rule bound to the component mentions Secrets or wildcards.
func checkNoSecretsAccess(t *testing.T, r *release, name string) {
	t.Helper()
	for _, o := range r.objs {
		if (o.GetKind() != "ClusterRole" && o.GetKind() != "Role") || o.GetName() != name {
			continue
		}
		role := typed[rbacv1.ClusterRole](t, o)
		for _, rule := range role.Rules {
			if slices.Contains(rule.Resources, "secrets") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.Verbs, "*") || slices.Contains(rule.APIGroups, "*") {
				t.Errorf("%s %s grants %+v", o.GetKind(), name, rule)
			}
		}
	}
}

// checkCertsRBAC: the certs controller may touch exactly its Secret and
// its webhook configuration, by name.
func checkCertsRBAC(t *testing.T, r *release) {
	t.Helper()
	role := typed[rbacv1.Role](t, r.get(t, "Role", "sparkplane-certs"))
	cr := typed[rbacv1.ClusterRole](t, r.get(t, "ClusterRole", "sparkplane-certs"))
	for _, rule := range append(role.Rules, cr.Rules...) {
		if len(rule.ResourceNames) != 1 {
			t.Errorf("certs rule %+v is not restricted to one object by name", rule)
		}
	}
}

func parseConfig(t *testing.T, r *release) *v1alpha1.SparkplaneConfiguration {
	t.Helper()
	cm := typed[corev1.ConfigMap](t, r.get(t, "ConfigMap", r.fullname()+"-config"))
	cfg, err := v1alpha1.Parse([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("the webhook rejects the rendered config.yaml: %v\n%s", err, cm.Data["config.yaml"])
	}
	return cfg
}

// parseSchedulerConfig loads the rendered KubeSchedulerConfiguration as
// kube-scheduler does, validates it, and decodes SparkGang's args as the
// plugin does.
func parseSchedulerConfig(t *testing.T, r *release) *scheduler.SparkGangArgs {
	t.Helper()
	cm := typed[corev1.ConfigMap](t, r.get(t, "ConfigMap", r.fullname()+"-scheduler-config"))
	cfg, err := scheduleroptions.LoadConfigFromFile(klog.Background(), writeFile(t, "scheduler-config.yaml", cm.Data["scheduler-config.yaml"]))
	if err != nil {
		t.Fatalf("kube-scheduler rejects the rendered configuration: %v", err)
	}
	if err := schedulervalidation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		t.Fatalf("invalid KubeSchedulerConfiguration: %v", err)
	}
	if cfg.LeaderElection.ResourceNamespace != r.namespace || cfg.LeaderElection.ResourceName != r.fullname()+"-scheduler" || !cfg.LeaderElection.LeaderElect {
		t.Errorf("leader election %+v, want Lease %s/%s-scheduler", cfg.LeaderElection, r.namespace, r.fullname())
	}
	for _, p := range cfg.Profiles {
		for _, pc := range p.PluginConfig {
			if pc.Name == scheduler.PluginName {
				args, err := scheduler.DecodeArgs(pc.Args)
				if err != nil {
					t.Fatalf("SparkGang rejects its rendered args: %v", err)
				}
				return args
			}
		}
	}
	t.Fatal("no SparkGang pluginConfig in the rendered scheduler configuration")
	return nil
}
