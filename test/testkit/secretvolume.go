// Package testkit holds helpers shared by the test packages that are not
// part of the control-plane harness (pkg/controlplane) because they pull
// in kubelet code the product binary does not need.
package testkit

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	secretvolume "k8s.io/kubernetes/pkg/volume/secret"
	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

// ProjectSecret mounts a secret volume into a new directory the way the
// kubelet does: its payload builder (items, default mode, optional) and its
// atomic writer (the files are symlinks into a directory swapped on each
// update). It re-reads the Secret every 100ms until the test ends, so
// updates show up as they would in a pod (faster than the kubelet's sync).
func ProjectSecret(t testing.TB, client kubernetes.Interface, namespace string, src corev1.SecretVolumeSource) string {
	t.Helper()
	dir := t.TempDir()
	writer, err := volumeutil.NewAtomicWriter(dir, "secret volume "+src.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	optional := src.Optional != nil && *src.Optional
	mode := src.DefaultMode
	if mode == nil {
		m := corev1.SecretVolumeSourceDefaultMode
		mode = &m
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if s, err := client.CoreV1().Secrets(namespace).Get(ctx, src.SecretName, metav1.GetOptions{}); err == nil {
				if payload, err := secretvolume.MakePayload(src.Items, s, mode, optional); err == nil {
					_ = writer.Write(payload, nil)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return dir
}
