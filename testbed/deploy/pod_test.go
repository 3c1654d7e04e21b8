package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// fieldValues stand in for the downward API when a pod's environment is resolved in a test.
var fieldValues = map[string]string{
	"spec.nodeName":      "node-1",
	"metadata.name":      "sieve-0",
	"metadata.namespace": "sieve",
	"status.podIP":       "10.0.0.7",
	"status.hostIP":      "192.168.0.7",
}

var dependentVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// podEnv resolves a container's environment as the kubelet would: envFrom ConfigMaps first, then
// env in order, $(VAR) referring to variables defined before, the downward API from fieldValues.
func podEnv(t *testing.T, m *manifests, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		require.NotNil(t, from.ConfigMapRef, "only ConfigMap envFrom is expected")
		cm, ok := m.ConfigMaps[from.ConfigMapRef.Name]
		require.True(t, ok, "envFrom ConfigMap %s is not in the manifests", from.ConfigMapRef.Name)
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = dependentVar.ReplaceAllStringFunc(e.Value, func(ref string) string {
				name := dependentVar.FindStringSubmatch(ref)[1]
				v, ok := env[name]
				require.True(t, ok, "env %s refers to $(%s), which is not defined before it", e.Name, name)
				return v
			})
		case e.ValueFrom.FieldRef != nil:
			v, ok := fieldValues[e.ValueFrom.FieldRef.FieldPath]
			require.True(t, ok, "env %s: unexpected fieldRef %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			env[e.Name] = v
		default:
			t.Fatalf("env %s: unexpected valueFrom %+v", e.Name, e.ValueFrom)
		}
	}
	return env
}

// envReferences lists the variables a collector configuration reads: ${env:NAME...} in the
// configuration, env("NAME") in stanza expressions.
func envReferences(config string) map[string]bool {
	refs := map[string]bool{}
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)`), regexp.MustCompile(`env\("([A-Za-z_][A-Za-z0-9_]*)"\)`)} {
		for _, m := range re.FindAllStringSubmatch(config, -1) {
			refs[m[1]] = true
		}
	}
	return refs
}

// configArg is the path given to --config.
func configArg(t *testing.T, c corev1.Container) string {
	t.Helper()
	for i, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
		if a == "--config" && i+1 < len(c.Args) {
			return c.Args[i+1]
		}
	}
	t.Fatalf("container %s has no --config argument: %v", c.Name, c.Args)
	return ""
}

// mountedFile finds the volume mount holding path and returns it with the volume.
func mountedFile(t *testing.T, spec corev1.PodSpec, c corev1.Container, path string) (corev1.VolumeMount, corev1.Volume) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") || path == vm.MountPath {
			for _, v := range spec.Volumes {
				if v.Name == vm.Name {
					return vm, v
				}
			}
			t.Fatalf("mount %s refers to volume %s, which the pod does not have", vm.MountPath, vm.Name)
		}
	}
	t.Fatalf("%s is on no volume of container %s", path, c.Name)
	return corev1.VolumeMount{}, corev1.Volume{}
}

// configMapFile returns the content of path when it is a key of a mounted ConfigMap.
func configMapFile(t *testing.T, m *manifests, spec corev1.PodSpec, c corev1.Container, path string) (string, *corev1.ConfigMap) {
	t.Helper()
	vm, v := mountedFile(t, spec, c, path)
	require.NotNil(t, v.ConfigMap, "%s is not on a ConfigMap volume", path)
	require.Empty(t, vm.SubPath, "ConfigMap %s mounted with subPath: updates would never reach the pod", v.ConfigMap.Name)
	cm, ok := m.ConfigMaps[v.ConfigMap.Name]
	require.True(t, ok, "volume %s refers to ConfigMap %s, which is not in the manifests", v.Name, v.ConfigMap.Name)
	key := strings.TrimPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")
	data, ok := cm.Data[key]
	require.True(t, ok, "ConfigMap %s has no key %s (for %s)", cm.Name, key, path)
	return data, cm
}

func portNamed(t *testing.T, c corev1.Container, name string) corev1.ContainerPort {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, name)
	return corev1.ContainerPort{}
}

// requireListensOn checks that an endpoint variable binds all interfaces on the port named.
func requireListensOn(t *testing.T, env map[string]string, name string, c corev1.Container, port string) {
	t.Helper()
	host, p, err := net.SplitHostPort(env[name])
	require.NoError(t, err, "%s=%q", name, env[name])
	require.Equal(t, "0.0.0.0", host, "%s must listen beyond loopback in the pod", name)
	require.Equal(t, strconv.Itoa(int(portNamed(t, c, port).ContainerPort)), p, "%s and the container port %s differ", name, port)
}

// requireProbeOnHealth checks a probe asks health_check through the container's health port.
func requireProbeOnHealth(t *testing.T, probe *corev1.Probe, c corev1.Container, env map[string]string) {
	t.Helper()
	require.NotNil(t, probe)
	require.NotNil(t, probe.HTTPGet, "probes use health_check over HTTP")
	port := probe.HTTPGet.Port.IntValue()
	if probe.HTTPGet.Port.StrVal != "" {
		port = int(portNamed(t, c, probe.HTTPGet.Port.StrVal).ContainerPort)
	}
	_, hp, err := net.SplitHostPort(env["SIEVE_HEALTH_ENDPOINT"])
	require.NoError(t, err)
	require.Equal(t, hp, strconv.Itoa(port), "probe port and SIEVE_HEALTH_ENDPOINT differ")
	require.Equal(t, "/", probe.HTTPGet.Path)
}

// podFiles lays a pod's ConfigMap volumes out under dir (each at dir+mountPath) and returns the
// container's environment and --config path with every mounted path moved under dir, so that
// bin/sieve can read the configuration as the pod would.
func podFiles(t *testing.T, m *manifests, spec corev1.PodSpec, c corev1.Container, dir string) (map[string]string, string) {
	t.Helper()
	env := podEnv(t, m, c)
	move := func(p string) string {
		for _, vm := range c.VolumeMounts {
			if p == vm.MountPath || strings.HasPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/") {
				return filepath.Join(dir, p)
			}
		}
		return p
	}
	for _, vm := range c.VolumeMounts {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, vm.MountPath), 0o755))
		for _, v := range spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				cm := m.ConfigMaps[v.ConfigMap.Name]
				require.NotNil(t, cm, "ConfigMap %s", v.ConfigMap.Name)
				for k, data := range cm.Data {
					require.NoError(t, os.WriteFile(filepath.Join(dir, vm.MountPath, k), []byte(data), 0o644))
				}
			}
		}
	}
	for k, v := range env {
		env[k] = move(v)
	}
	return env, move(configArg(t, c))
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, fmt.Sprintf("%s=%s", k, v))
	}
	return out
}
