package kubelet

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/kubernetes/pkg/api/v1/resource"
	"k8s.io/kubernetes/pkg/fieldpath"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// envVar is one resolved environment variable.
type envVar struct {
	Name, Value string
}

// podFailure is a problem that no retry fixes: the pod fails with Reason.
type podFailure struct {
	Reason  string
	Message string
}

func (f *podFailure) Error() string { return f.Reason + ": " + f.Message }

// errConfigMapMissing marks a ConfigMap that does not exist (yet). Spark
// creates the driver's ConfigMap right after the driver pod, so a real
// kubelet keeps such a pod in ContainerCreating and retries; so do we.
var errConfigMapMissing = errors.New("configmap not found")

// secretsFailure is why pods that use Secrets fail: this kubelet runs on a
// developer machine and never reads Secrets.
func secretsFailure(what string) *podFailure {
	return &podFailure{Reason: "SecretsNotSupported", Message: what + ": the sparkplane local kubelet never reads Secrets; use a ConfigMap or a literal value"}
}

// envSource is what resolveEnv needs besides the pod.
type envSource struct {
	PodIP  string
	HostIP string
	// NodeAllocatable stands in for unset limits in resourceFieldRef, as
	// the kubelet does.
	NodeAllocatable corev1.ResourceList
	// ConfigMap returns a ConfigMap of the pod's namespace, or an error
	// wrapping errConfigMapMissing.
	ConfigMap func(name string) (*corev1.ConfigMap, error)
}

// resolveEnv computes a container's environment as the kubelet does: envFrom
// first, then env in order; literal values expand $(VAR) references to
// variables defined before them (unresolvable references stay as they are);
// values from valueFrom are not expanded. Service link variables are not
// set. Secret references fail the pod (see secretsFailure).
func resolveEnv(pod *corev1.Pod, c *corev1.Container, src envSource) ([]envVar, error) {
	var out []envVar
	defined := map[string]string{}
	set := func(name, value string) {
		if _, ok := defined[name]; ok {
			for i := range out {
				if out[i].Name == name {
					out[i].Value = value
				}
			}
		} else {
			out = append(out, envVar{name, value})
		}
		defined[name] = value
	}

	for _, ef := range c.EnvFrom {
		switch {
		case ef.SecretRef != nil:
			return nil, secretsFailure(fmt.Sprintf("envFrom secretRef %q", ef.SecretRef.Name))
		case ef.ConfigMapRef != nil:
			optional := ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional
			cm, err := src.ConfigMap(ef.ConfigMapRef.Name)
			if err != nil {
				if optional && errors.Is(err, errConfigMapMissing) {
					continue
				}
				return nil, fmt.Errorf("envFrom configMapRef: %w", err)
			}
			for k, v := range cm.Data {
				set(ef.Prefix+k, v)
			}
		}
	}

	for i := range c.Env {
		e := &c.Env[i]
		if e.ValueFrom == nil {
			set(e.Name, expansion.Expand(e.Value, expansion.MappingFuncFor(defined)))
			continue
		}
		v, skip, err := valueFrom(pod, c, e, src)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	return out, nil
}

// valueFrom resolves one env valueFrom; skip is true for a missing optional
// ConfigMap key, which leaves the variable unset.
func valueFrom(pod *corev1.Pod, c *corev1.Container, e *corev1.EnvVar, src envSource) (value string, skip bool, err error) {
	vf := e.ValueFrom
	switch {
	case vf.SecretKeyRef != nil:
		return "", false, secretsFailure(fmt.Sprintf("env %s from secretKeyRef %q", e.Name, vf.SecretKeyRef.Name))
	case vf.FieldRef != nil:
		v, err := podField(pod, vf.FieldRef.FieldPath, src)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		fs := vf.ResourceFieldRef.DeepCopy()
		if fs.ContainerName == "" {
			fs.ContainerName = c.Name
		}
		v, err := resourcehelper.ExtractResourceValueByContainerNameAndNodeAllocatable(fs, pod, fs.ContainerName, src.NodeAllocatable)
		return v, false, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := src.ConfigMap(ref.Name)
		if err != nil {
			if optional && errors.Is(err, errConfigMapMissing) {
				return "", true, nil
			}
			return "", false, err
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, false, nil
		}
		if optional {
			return "", true, nil
		}
		// A real kubelet retries too: the key may be added later.
		return "", false, fmt.Errorf("key %q in configmap %q: %w", ref.Key, ref.Name, errConfigMapMissing)
	case vf.FileKeyRef != nil:
		return "", false, &podFailure{Reason: "UnsupportedEnv", Message: fmt.Sprintf("env %s: fileKeyRef is not supported by the sparkplane local kubelet", e.Name)}
	}
	return "", false, fmt.Errorf("empty valueFrom")
}

// podField resolves a downward-API field path.
func podField(pod *corev1.Pod, path string, src envSource) (string, error) {
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return src.PodIP, nil
	case "status.podIPs":
		return src.PodIP, nil
	case "status.hostIP":
		return src.HostIP, nil
	case "status.hostIPs":
		return src.HostIP, nil
	}
	v, err := fieldpath.ExtractFieldPathAsString(pod, path)
	if err != nil {
		return "", fmt.Errorf("fieldRef %s: %w", path, err)
	}
	return v, nil
}

// envMap returns the variables as a map.
func envMap(env []envVar) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}

// expandArgs expands $(VAR) in container command/args with the container's
// environment, as the kubelet does.
func expandArgs(args []string, env map[string]string) []string {
	out := make([]string, len(args))
	mapping := expansion.MappingFuncFor(env)
	for i, a := range args {
		out[i] = expansion.Expand(a, mapping)
	}
	return out
}
