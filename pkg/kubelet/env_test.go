package kubelet

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func fieldRef(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func resourceRef(name, res, divisor string) corev1.EnvVar {
	rf := &corev1.ResourceFieldSelector{Resource: res}
	if divisor != "" {
		rf.Divisor = resource.MustParse(divisor)
	}
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: rf}}
}

func cmRef(name, cm, key string, optional bool) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: key, Optional: ptr.To(optional)}}}
}

func TestResolveEnv(t *testing.T) {
	configMaps := map[string]*corev1.ConfigMap{
		"conf": {Data: map[string]string{"mode": "fast", "LEVEL": "3", "bad-name": "x"}, BinaryData: map[string][]byte{"bin": []byte("b")}},
	}
	src := envSource{
		PodIP: "127.1.0.9", HostIP: HostIP,
		NodeAllocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")},
		ConfigMap: func(name string) (*corev1.ConfigMap, error) {
			if cm, ok := configMaps[name]; ok {
				return cm, nil
			}
			return nil, fmt.Errorf("configmap %q: %w", name, errConfigMapMissing)
		},
	}
	pod := func(env []corev1.EnvVar, envFrom ...corev1.EnvFromSource) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: "p", Namespace: "ns", UID: "u-1",
				Labels: map[string]string{"spark-role": "driver"}, Annotations: map[string]string{"a/b": "c"},
			},
			Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "spark", Containers: []corev1.Container{{
				Name: "c", Env: env, EnvFrom: envFrom,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
				},
			}}},
		}
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		want    []envVar
		wantErr error
		reason  string
	}{
		{
			name: "literals expand earlier variables only",
			pod: pod([]corev1.EnvVar{
				{Name: "A", Value: "a"},
				{Name: "B", Value: "$(A)-$(C)-$$(A)"},
				{Name: "C", Value: "c"},
				{Name: "A", Value: "$(A)2"},
			}),
			want: []envVar{{"A", "a2"}, {"B", "a-$(C)-$(A)"}, {"C", "c"}},
		},
		{
			name: "field refs",
			pod: pod([]corev1.EnvVar{
				fieldRef("NAME", "metadata.name"), fieldRef("NS", "metadata.namespace"), fieldRef("UID", "metadata.uid"),
				fieldRef("ROLE", "metadata.labels['spark-role']"), fieldRef("ANN", "metadata.annotations['a/b']"),
				fieldRef("NODE", "spec.nodeName"), fieldRef("SA", "spec.serviceAccountName"),
				fieldRef("IP", "status.podIP"), fieldRef("HOST", "status.hostIP"),
				{Name: "NOT_EXPANDED", Value: "$(IP)"},
			}),
			want: []envVar{
				{"NAME", "p"}, {"NS", "ns"}, {"UID", "u-1"}, {"ROLE", "driver"}, {"ANN", "c"},
				{"NODE", "n1"}, {"SA", "spark"}, {"IP", "127.1.0.9"}, {"HOST", HostIP}, {"NOT_EXPANDED", "127.1.0.9"},
			},
		},
		{
			name: "resource refs (unset limits are the node's allocatable)",
			pod: pod([]corev1.EnvVar{
				resourceRef("REQ_CPU", "requests.cpu", ""), resourceRef("REQ_CPU_M", "requests.cpu", "1m"),
				resourceRef("LIM_CPU", "limits.cpu", ""), resourceRef("REQ_MEM_MI", "requests.memory", "1Mi"),
				resourceRef("LIM_MEM", "limits.memory", ""),
			}),
			want: []envVar{{"REQ_CPU", "2"}, {"REQ_CPU_M", "1500"}, {"LIM_CPU", "8"}, {"REQ_MEM_MI", "1024"}, {"LIM_MEM", "2147483648"}},
		},
		{
			name: "configmap refs and envFrom",
			pod: pod([]corev1.EnvVar{cmRef("MODE", "conf", "mode", false),
				cmRef("OPT", "conf", "missing", true), cmRef("OPT2", "absent", "k", true), {Name: "X", Value: "$(P_LEVEL)"}},
				corev1.EnvFromSource{Prefix: "P_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}},
				corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}},
			),
			// envFrom keys come in map order; compare as a set below.
			want: []envVar{{"P_mode", "fast"}, {"P_LEVEL", "3"}, {"P_bad-name", "x"}, {"MODE", "fast"}, {"X", "3"}},
		},
		{
			name:    "missing configmap waits",
			pod:     pod([]corev1.EnvVar{cmRef("M", "absent", "k", false)}),
			wantErr: errConfigMapMissing,
		},
		{
			name:    "binaryData is not read for env (as in the kubelet)",
			pod:     pod([]corev1.EnvVar{cmRef("BIN", "conf", "bin", false)}),
			wantErr: errConfigMapMissing,
		},
		{
			name:    "missing key waits",
			pod:     pod([]corev1.EnvVar{cmRef("M", "conf", "nope", false)}),
			wantErr: errConfigMapMissing,
		},
		{
			name: "secret key ref fails the pod",
			pod: pod([]corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}),
			reason: "SecretsNotSupported",
		},
		{
			name:   "envFrom secret fails the pod",
			pod:    pod(nil, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}),
			reason: "SecretsNotSupported",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveEnv(tc.pod, &tc.pod.Spec.Containers[0], src)
			var failure *podFailure
			switch {
			case tc.reason != "":
				if !errors.As(err, &failure) || failure.Reason != tc.reason {
					t.Fatalf("error %v, want a pod failure with reason %s", err, tc.reason)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if !reflect.DeepEqual(envMap(got), envMap(tc.want)) || len(got) != len(tc.want) {
				t.Errorf("env:\n got %v\nwant %v", got, tc.want)
			}
			if tc.name != "configmap refs and envFrom" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("env order:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}
