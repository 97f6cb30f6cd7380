package kubelet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestPrepareVolumes(t *testing.T) {
	configMaps := map[string]*corev1.ConfigMap{
		"conf": {Data: map[string]string{"spark.properties": "a=b\n", "log4j2.properties": "x"}, BinaryData: map[string][]byte{"blob": {0, 1}}},
	}
	get := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		return nil, fmt.Errorf("configmap %q: %w", name, errConfigMapMissing)
	}
	cmVol := func(name, cm string, items []corev1.KeyToPath, optional bool) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Items: items, DefaultMode: ptr.To[int32](0o640), Optional: ptr.To(optional)}}}
	}
	pod := func(vols []corev1.Volume, mounts []corev1.VolumeMount) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Volumes: vols, Containers: []corev1.Container{{Name: "c", VolumeMounts: mounts}}}}
	}

	t.Run("configmaps, items, emptyDir, subPath", func(t *testing.T) {
		dir := t.TempDir()
		p := pod([]corev1.Volume{
			cmVol("all", "conf", nil, false),
			cmVol("some", "conf", []corev1.KeyToPath{{Key: "spark.properties", Path: "sub/props", Mode: ptr.To[int32](0o600)}}, false),
			cmVol("maybe", "absent", nil, true),
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "unmounted", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
		}, []corev1.VolumeMount{
			{Name: "all", MountPath: "/opt/spark/conf"},
			{Name: "some", MountPath: "/etc/some"},
			{Name: "some", MountPath: "/etc/props", SubPath: "sub/props"},
			{Name: "maybe", MountPath: "/maybe"},
			{Name: "scratch", MountPath: "/var/data"},
		})
		mounts, err := prepareVolumes(p, &p.Spec.Containers[0], dir, get)
		if err != nil {
			t.Fatal(err)
		}
		v := func(name string) string { return filepath.Join(dir, "volumes", name) }
		want := []pathMapping{
			{"/opt/spark/conf", v("all")},
			{"/etc/some", v("some")},
			{"/etc/props", filepath.Join(v("some"), "sub/props")},
			{"/maybe", v("maybe")},
			{"/var/data", v("scratch")},
		}
		if !reflect.DeepEqual(mounts, want) {
			t.Errorf("mounts:\n got %v\nwant %v", mounts, want)
		}
		for path, want := range map[string]struct {
			content string
			mode    os.FileMode
		}{
			"all/spark.properties":  {"a=b\n", 0o640},
			"all/log4j2.properties": {"x", 0o640},
			"all/blob":              {"\x00\x01", 0o640},
			"some/sub/props":        {"a=b\n", 0o600},
		} {
			p := filepath.Join(dir, "volumes", path)
			data, err := os.ReadFile(p)
			if err != nil || string(data) != want.content {
				t.Errorf("%s: %q (%v), want %q", path, data, err, want.content)
				continue
			}
			if st, _ := os.Stat(p); st.Mode().Perm() != want.mode {
				t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want.mode)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "volumes", "some", "log4j2.properties")); !os.IsNotExist(err) {
			t.Errorf("items: a key that is not listed was written (stat: %v)", err)
		}
		if st, err := os.Stat(v("scratch")); err != nil || !st.IsDir() {
			t.Errorf("emptyDir: %v", err)
		}
		if _, err := os.Stat(v("unmounted")); !os.IsNotExist(err) {
			t.Errorf("a volume that is not mounted was prepared (stat: %v)", err)
		}
	})

	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		wantErr error
		reason  string
	}{
		{"missing configmap waits", pod([]corev1.Volume{cmVol("c", "absent", nil, false)}, []corev1.VolumeMount{{Name: "c", MountPath: "/c"}}), errConfigMapMissing, ""},
		{"missing item key waits", pod([]corev1.Volume{cmVol("c", "conf", []corev1.KeyToPath{{Key: "nope", Path: "p"}}, false)}, []corev1.VolumeMount{{Name: "c", MountPath: "/c"}}), errConfigMapMissing, ""},
		{"escaping item path", pod([]corev1.Volume{cmVol("c", "conf", []corev1.KeyToPath{{Key: "spark.properties", Path: "../x"}}, false)}, []corev1.VolumeMount{{Name: "c", MountPath: "/c"}}), nil, "InvalidVolume"},
		{"hostPath", pod([]corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}, []corev1.VolumeMount{{Name: "h", MountPath: "/h"}}), nil, "UnsupportedVolume"},
		{"mount of no volume", pod(nil, []corev1.VolumeMount{{Name: "x", MountPath: "/x"}}), nil, "InvalidVolume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prepareVolumes(tc.pod, &tc.pod.Spec.Containers[0], t.TempDir(), get)
			var failure *podFailure
			if tc.reason != "" {
				if !errors.As(err, &failure) || failure.Reason != tc.reason {
					t.Fatalf("error %v, want a pod failure with reason %s", err, tc.reason)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestSecretReference(t *testing.T) {
	secretVol := corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}}
	projected := corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
	}}}}
	initEnv := corev1.Container{Name: "init", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}}}
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want bool
	}{
		{"none", corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}, false},
		{"secret volume", corev1.PodSpec{Volumes: []corev1.Volume{secretVol}}, true},
		{"projected secret", corev1.PodSpec{Volumes: []corev1.Volume{projected}}, true},
		{"init container env", corev1.PodSpec{InitContainers: []corev1.Container{initEnv}}, true},
	} {
		got := secretReference(&corev1.Pod{Spec: tc.spec})
		if (got != "") != tc.want {
			t.Errorf("%s: %q, want a reference: %v", tc.name, got, tc.want)
		}
	}
}
