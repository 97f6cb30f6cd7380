package kubelet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// secretReference describes the first use of a Secret in the pod (volumes,
// projected volumes, env and envFrom of every container), or "".
func secretReference(pod *corev1.Pod) string {
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			return fmt.Sprintf("volume %q is Secret %q", v.Name, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					return fmt.Sprintf("projected volume %q uses Secret %q", v.Name, s.Secret.Name)
				}
			}
		}
	}
	var cs []corev1.Container
	cs = append(cs, pod.Spec.InitContainers...)
	cs = append(cs, pod.Spec.Containers...)
	for _, c := range cs {
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				return fmt.Sprintf("container %q: envFrom Secret %q", c.Name, ef.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return fmt.Sprintf("container %q: env %s from Secret %q", c.Name, e.Name, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	return ""
}

// volumeDir is where a volume's files live on this machine.
func volumeDir(podDir, volume string) string {
	return filepath.Join(podDir, "volumes", volume)
}

// prepareVolumes materialises the volumes container c mounts under
// podDir/volumes/<name> (ConfigMaps as files, emptyDirs as empty
// directories) and returns the mount paths mapped to local paths. Other
// volume types fail the pod: nothing here could honour them.
func prepareVolumes(pod *corev1.Pod, c *corev1.Container, podDir string, getConfigMap func(string) (*corev1.ConfigMap, error)) ([]pathMapping, error) {
	volumes := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		volumes[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	prepared := map[string]bool{}
	var mounts []pathMapping
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return nil, &podFailure{Reason: "InvalidVolume", Message: fmt.Sprintf("volumeMount %q names no volume of the pod", m.Name)}
		}
		if m.SubPathExpr != "" {
			return nil, &podFailure{Reason: "UnsupportedVolume", Message: fmt.Sprintf("volumeMount %q: subPathExpr is not supported by the sparkplane local kubelet", m.Name)}
		}
		dir := volumeDir(podDir, v.Name)
		if !prepared[v.Name] {
			if err := prepareVolume(v, dir, getConfigMap); err != nil {
				return nil, err
			}
			prepared[v.Name] = true
		}
		local := dir
		if m.SubPath != "" {
			sub, err := relPath(m.SubPath)
			if err != nil {
				return nil, &podFailure{Reason: "InvalidVolume", Message: fmt.Sprintf("volumeMount %q subPath: %v", m.Name, err)}
			}
			local = filepath.Join(dir, sub)
		}
		mounts = append(mounts, pathMapping{From: m.MountPath, To: local})
	}
	return mounts, nil
}

func prepareVolume(v *corev1.Volume, dir string, getConfigMap func(string) (*corev1.ConfigMap, error)) error {
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("emptyDir volume %q: %w", v.Name, err)
		}
		return nil
	case v.ConfigMap != nil:
		return writeConfigMapVolume(v.Name, v.ConfigMap, dir, getConfigMap)
	}
	return &podFailure{Reason: "UnsupportedVolume", Message: fmt.Sprintf("volume %q: only configMap and emptyDir volumes are supported by the sparkplane local kubelet", v.Name)}
}

// writeConfigMapVolume writes the ConfigMap's keys (or its items) as files,
// like the kubelet's configMap volume plugin (without the atomic-update
// symlinks: files are written once, before the process starts).
func writeConfigMapVolume(volume string, src *corev1.ConfigMapVolumeSource, dir string, getConfigMap func(string) (*corev1.ConfigMap, error)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("configMap volume %q: %w", volume, err)
	}
	optional := src.Optional != nil && *src.Optional
	cm, err := getConfigMap(src.Name)
	if err != nil {
		if optional && errors.Is(err, errConfigMapMissing) {
			return nil
		}
		return fmt.Errorf("configMap volume %q: %w", volume, err)
	}
	mode := os.FileMode(0o644)
	if src.DefaultMode != nil {
		mode = os.FileMode(*src.DefaultMode) & os.ModePerm
	}
	value := func(key string) ([]byte, bool) {
		if v, ok := cm.Data[key]; ok {
			return []byte(v), true
		}
		v, ok := cm.BinaryData[key]
		return v, ok
	}
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	var files []file
	if len(src.Items) == 0 {
		keys := make([]string, 0, len(cm.Data)+len(cm.BinaryData))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		for k := range cm.BinaryData {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			data, _ := value(k)
			files = append(files, file{k, data, mode})
		}
	} else {
		for _, it := range src.Items {
			data, ok := value(it.Key)
			if !ok {
				if optional {
					continue
				}
				// The key may still be added; the kubelet retries too.
				return fmt.Errorf("configMap volume %q: key %q of configmap %q: %w", volume, it.Key, src.Name, errConfigMapMissing)
			}
			m := mode
			if it.Mode != nil {
				m = os.FileMode(*it.Mode) & os.ModePerm
			}
			files = append(files, file{it.Path, data, m})
		}
	}
	for _, f := range files {
		rel, err := relPath(f.path)
		if err != nil {
			return &podFailure{Reason: "InvalidVolume", Message: fmt.Sprintf("configMap volume %q: path %q: %v", volume, f.path, err)}
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("configMap volume %q: %w", volume, err)
		}
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			return fmt.Errorf("configMap volume %q: %w", volume, err)
		}
		// The volume's mode, whatever the umask.
		if err := os.Chmod(p, f.mode); err != nil {
			return fmt.Errorf("configMap volume %q: %w", volume, err)
		}
	}
	return nil
}

// relPath checks that p is a relative path that stays inside its volume.
func relPath(p string) (string, error) {
	if p == "" || filepath.IsAbs(p) {
		return "", errors.New("must be a non-empty relative path")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", errors.New("must not contain '..'")
		}
	}
	return filepath.Clean(p), nil
}
