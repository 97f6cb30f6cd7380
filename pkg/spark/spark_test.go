package spark

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRoleOf(t *testing.T) {
	for labels, want := range map[string]Role{"": RoleNone, "driver": RoleDriver, "executor": RoleExecutor, "shuffle": RoleOther} {
		p := &corev1.Pod{}
		if labels != "" {
			p.Labels = map[string]string{LabelRole: labels}
		}
		if got := RoleOf(p); got != want {
			t.Errorf("RoleOf(%q) = %q, want %q", labels, got, want)
		}
	}
}

func TestDriverOwner(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		refs []metav1.OwnerReference
		want string
	}{
		{"none", nil, ""},
		{"pod controller", []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "d", Controller: &yes}}, "d"},
		{"not controller", []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "d", Controller: &no}}, ""},
		{"statefulset", []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "s", Controller: &yes}}, ""},
	}
	for _, tt := range tests {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: tt.refs}}
		got := ""
		if r := DriverOwner(p); r != nil {
			got = r.Name
		}
		if got != tt.want {
			t.Errorf("%s: DriverOwner = %q, want %q", tt.name, got, tt.want)
		}
	}
}
