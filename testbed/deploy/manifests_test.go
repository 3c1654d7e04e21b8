package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	gatewayName  = "sieve-gateway"
	headlessName = "sieve-gateway-headless"
	agentName    = "sieve-agent"
	// terminationGrace is the pods' grace period: the exporters' bounded shutdown (being added)
	// must fit in it.
	terminationGrace = 30
)

// requireHardened checks the container securityContext every Sieve container has.
func requireHardened(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	require.NotNil(t, sc, "container %s has no securityContext", c.Name)
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	require.True(t, *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	require.False(t, *sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
	require.True(t, sc.Privileged == nil || !*sc.Privileged, "privileged")
	require.NotNil(t, sc.Capabilities)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.Empty(t, sc.Capabilities.Add, "no capability is added back")
}

// requireTelemetryOnPort checks Sieve's own metrics listen on the pod's "metrics" port.
func requireTelemetryOnPort(t *testing.T, env map[string]string, c corev1.Container) {
	t.Helper()
	require.Equal(t, "0.0.0.0", env["SIEVE_TELEMETRY_HOST"], "Prometheus scrapes the pod's address")
	require.Equal(t, portString(portNamed(t, c, "metrics").ContainerPort), env["SIEVE_TELEMETRY_PORT"])
	require.Zero(t, portNamed(t, c, "metrics").HostPort)
}

func requireResources(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, ok := c.Resources.Requests[r]
		require.True(t, ok, "%s request", r)
		lim, ok := c.Resources.Limits[r]
		require.True(t, ok, "%s limit (go_memory_limit and memory_limiter size themselves from the memory limit)", r)
		require.LessOrEqual(t, req.Cmp(lim), 0, "%s request above its limit", r)
	}
}

// requireEnvUsed checks every variable set on the container is read by its configuration or by
// another variable's $(NAME): a misspelt name would otherwise be ignored silently.
func requireEnvUsed(t *testing.T, c corev1.Container, config string) {
	t.Helper()
	refs := envReferences(config)
	for _, e := range c.Env {
		for _, m := range dependentVar.FindAllStringSubmatch(e.Value, -1) {
			refs[m[1]] = true
		}
	}
	for _, e := range c.Env {
		require.True(t, refs[e.Name], "env %s is set on %s but its configuration never reads it", e.Name, c.Name)
	}
}

func TestGatewayPods(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k, func(t *testing.T) {
			m := render(t, k)
			sts := m.StatefulSets[gatewayName]
			spec := sts.Spec.Template.Spec
			require.Len(t, spec.Containers, 1)
			c := spec.Containers[0]
			env := podEnv(t, m, c)

			// Security: non-root 10001 (the image's user), hardened container.
			psc := spec.SecurityContext
			require.NotNil(t, psc)
			require.True(t, *psc.RunAsNonRoot)
			require.EqualValues(t, 10001, *psc.RunAsUser)
			require.EqualValues(t, 10001, *psc.FSGroup, "the queue claim must be writable by UID 10001")
			require.True(t, *c.SecurityContext.RunAsNonRoot)
			require.EqualValues(t, 10001, *c.SecurityContext.RunAsUser)
			requireHardened(t, c)
			require.NotNil(t, spec.AutomountServiceAccountToken)
			require.False(t, *spec.AutomountServiceAccountToken, "the gateway needs no Kubernetes API")
			requireResources(t, c)
			require.EqualValues(t, terminationGrace, *spec.TerminationGracePeriodSeconds)

			// The configuration is the mounted ConfigMap, and it reads every variable set.
			config, _ := configMapFile(t, m, spec, c, configArg(t, c))
			requireEnvUsed(t, c, config)
			policy, policyCM := configMapFile(t, m, spec, c, env["SIEVE_POLICY_FILE"])
			require.NotEmpty(t, policy)
			require.Equal(t, "sieve-policy", policyCM.Name, "the policy ConfigMap keeps its name so edits reach running gateways")

			// Listeners the Services and the kubelet reach.
			requireListensOn(t, env, "SIEVE_OTLP_GRPC_ENDPOINT", c, "otlp-grpc")
			requireListensOn(t, env, "SIEVE_OTLP_HTTP_ENDPOINT", c, "otlp-http")
			requireListensOn(t, env, "SIEVE_SAMPLING_ENDPOINT", c, "sampling")
			requireListensOn(t, env, "SIEVE_SAMPLING_GRPC_ENDPOINT", c, "sampling-grpc")
			requireListensOn(t, env, "SIEVE_HEALTH_ENDPOINT", c, "health")
			requireTelemetryOnPort(t, env, c)
			requireProbeOnHealth(t, c.LivenessProbe, c, env)
			requireProbeOnHealth(t, c.ReadinessProbe, c, env)
			for _, v := range []string{"SIEVE_LOKI_PUSH_URL", "SIEVE_PROMETHEUS_RW_URL"} {
				require.True(t, strings.HasPrefix(env[v], "http"), "%s=%q", v, env[v])
			}

			// The persistent queue is on the pod's own claim.
			vm, _ := mountedFileOrDir(t, spec, c, env["SIEVE_STORAGE_DIR"])
			require.False(t, vm.ReadOnly)
			require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
			require.Equal(t, sts.Spec.VolumeClaimTemplates[0].Name, vm.Name, "SIEVE_STORAGE_DIR must be on the volumeClaimTemplate")
			for _, v := range spec.Volumes {
				require.NotEqual(t, vm.Name, v.Name, "the queue volume must come from the claim template, not the pod")
			}
			require.Equal(t, headlessName, sts.Spec.ServiceName)
		})
	}
}

// mountedFileOrDir is mountedFile for a directory that may be the mount point itself.
func mountedFileOrDir(t *testing.T, spec corev1.PodSpec, c corev1.Container, path string) (corev1.VolumeMount, bool) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if path == vm.MountPath || strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			return vm, true
		}
	}
	t.Fatalf("%s is on no volume of %s", path, c.Name)
	return corev1.VolumeMount{}, false
}

func TestAgentPods(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k, func(t *testing.T) {
			m := render(t, k)
			ds := m.DaemonSets[agentName]
			spec := ds.Spec.Template.Spec
			require.Len(t, spec.Containers, 1)
			c := spec.Containers[0]
			env := podEnv(t, m, c)

			// Root without any capability: /var/log/pods and the hostPath queue are root's.
			requireHardened(t, c)
			require.EqualValues(t, 0, *c.SecurityContext.RunAsUser)
			require.NotNil(t, spec.AutomountServiceAccountToken)
			require.False(t, *spec.AutomountServiceAccountToken, "the DNS resolver needs no Kubernetes API")
			requireResources(t, c)
			require.EqualValues(t, terminationGrace, *spec.TerminationGracePeriodSeconds)
			require.NotNil(t, ds.Spec.UpdateStrategy.RollingUpdate)
			require.True(t, ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge == nil || ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge.IntValue() == 0,
				"two agents on one node would share the hostPath queue")

			config, _ := configMapFile(t, m, spec, c, configArg(t, c))
			requireEnvUsed(t, c, config)

			// Node name from the downward API, gateways by the headless Service's DNS name.
			nodeName := findEnv(t, c, "K8S_NODE_NAME")
			require.NotNil(t, nodeName.ValueFrom)
			require.Equal(t, "spec.nodeName", nodeName.ValueFrom.FieldRef.FieldPath)
			require.Equal(t, headlessName+".sieve.svc", env["SIEVE_GATEWAY_HOST"])
			require.Equal(t, headlessName+".$(K8S_NAMESPACE).svc", findEnv(t, c, "SIEVE_GATEWAY_HOST").Value)
			require.Equal(t, "metadata.namespace", findEnv(t, c, "K8S_NAMESPACE").ValueFrom.FieldRef.FieldPath)
			hl := m.Services[headlessName]
			require.Equal(t, env["SIEVE_GATEWAY_PORT"], portString(hl.Spec.Ports[0].Port))

			// Node-local OTLP on hostPorts, the kubelet's probes on health_check.
			requireListensOn(t, env, "SIEVE_OTLP_GRPC_ENDPOINT", c, "otlp-grpc")
			requireListensOn(t, env, "SIEVE_OTLP_HTTP_ENDPOINT", c, "otlp-http")
			requireListensOn(t, env, "SIEVE_HEALTH_ENDPOINT", c, "health")
			requireTelemetryOnPort(t, env, c)
			for _, p := range []string{"otlp-grpc", "otlp-http"} {
				cp := portNamed(t, c, p)
				require.Equal(t, cp.ContainerPort, cp.HostPort, "%s on the node's address", p)
			}
			require.Zero(t, portNamed(t, c, "health").HostPort, "health_check stays off the node's address")
			requireProbeOnHealth(t, c.LivenessProbe, c, env)
			requireProbeOnHealth(t, c.ReadinessProbe, c, env)

			// Container logs read-only from the node; the agent's own are not tailed.
			vm, _ := mountedFileOrDir(t, spec, c, "/var/log/pods")
			require.True(t, vm.ReadOnly)
			require.Equal(t, "/var/log/pods", hostPathOf(t, spec, vm.Name))
			require.True(t, strings.HasPrefix(env["SIEVE_LOG_GLOB"], vm.MountPath+"/"))
			matched, err := filepath.Match(env["SIEVE_LOG_EXCLUDE_GLOB"], "/var/log/pods/sieve_sieve-agent-x7k2p_0123-ab/sieve-agent/0.log")
			require.NoError(t, err)
			require.True(t, matched, "the agent's own container log is excluded")
			matched, _ = filepath.Match(env["SIEVE_LOG_EXCLUDE_GLOB"], "/var/log/pods/shop_cart-1_0123-ab/cart/0.log")
			require.False(t, matched)

			// The queue and file offsets survive agent restarts on the node.
			qm, _ := mountedFileOrDir(t, spec, c, env["SIEVE_STORAGE_DIR"])
			require.Equal(t, "/var/lib/sieve-agent", hostPathOf(t, spec, qm.Name))
			require.False(t, qm.ReadOnly)
		})
	}
}

func findEnv(t *testing.T, c corev1.Container, name string) corev1.EnvVar {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("container %s has no env %s", c.Name, name)
	return corev1.EnvVar{}
}

func hostPathOf(t *testing.T, spec corev1.PodSpec, volume string) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == volume {
			require.NotNil(t, v.HostPath, "volume %s is not a hostPath", volume)
			return v.HostPath.Path
		}
	}
	t.Fatalf("no volume %s", volume)
	return ""
}

func portString(p int32) string { return strconv.Itoa(int(p)) }

func TestServicesAndBudgetSelectTheGateways(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k, func(t *testing.T) {
			m := render(t, k)
			sts := m.StatefulSets[gatewayName]
			gw := labels.Set(sts.Spec.Template.Labels)
			agent := labels.Set(m.DaemonSets[agentName].Spec.Template.Labels)
			c := sts.Spec.Template.Spec.Containers[0]

			sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
			require.NoError(t, err)
			require.True(t, sel.Matches(gw), "the StatefulSet selects its own pods")

			hl := m.Services[headlessName]
			require.Equal(t, corev1.ClusterIPNone, hl.Spec.ClusterIP, "headless: one DNS record per gateway pod")
			require.False(t, hl.Spec.PublishNotReadyAddresses, "only ready gateways join the agents' ring")
			for _, svc := range []*corev1.Service{hl, m.Services[gatewayName]} {
				s := labels.SelectorFromSet(svc.Spec.Selector)
				require.True(t, s.Matches(gw), "Service %s selects the gateways", svc.Name)
				require.False(t, s.Matches(agent), "Service %s must not select the agents", svc.Name)
				for _, p := range svc.Spec.Ports {
					require.Equal(t, p.Port, portNamed(t, c, p.TargetPort.StrVal).ContainerPort, "Service %s port %s", svc.Name, p.Name)
				}
			}
			require.NotEqual(t, corev1.ClusterIPNone, m.Services[gatewayName].Spec.ClusterIP)
			var ports []string
			for _, p := range m.Services[gatewayName].Spec.Ports {
				ports = append(ports, p.Name)
			}
			require.ElementsMatch(t, []string{"otlp-grpc", "otlp-http", "sampling", "sampling-grpc"}, ports)

			pdb := m.PDBs[gatewayName]
			ps, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			require.NoError(t, err)
			require.True(t, ps.Matches(gw), "the PDB covers the gateways")
			require.False(t, ps.Matches(agent))
			require.NotNil(t, pdb.Spec.MaxUnavailable)
			require.Equal(t, 1, pdb.Spec.MaxUnavailable.IntValue(), "one gateway at a time, whatever the replica count")
		})
	}
}

func TestOverlaysSizeThePool(t *testing.T) {
	dev, prod := render(t, "overlays/dev"), render(t, "overlays/production")
	require.EqualValues(t, 1, *dev.StatefulSets[gatewayName].Spec.Replicas)
	require.GreaterOrEqual(t, *prod.StatefulSets[gatewayName].Spec.Replicas, int32(3))
	mem := func(m *manifests) int64 {
		return m.StatefulSets[gatewayName].Spec.Template.Spec.Containers[0].Resources.Limits.Memory().Value()
	}
	require.Greater(t, mem(prod), mem(dev))
	storage := func(m *manifests) int64 {
		return m.StatefulSets[gatewayName].Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().Value()
	}
	require.Greater(t, storage(prod), storage(dev))
	require.GreaterOrEqual(t, storage(dev), int64(1<<30), "room for the queues' reserve and compaction")
}

// TestImageIsOverridable checks the image default and that a kustomization replaces it with
// `images:`, as the README documents.
func TestImageIsOverridable(t *testing.T) {
	for _, k := range []string{"base", "overlays/dev"} {
		for _, c := range allContainers(render(t, k)) {
			require.Equal(t, "localhost/sieve:dev", c.Image, "%s: %s", k, c.Name)
		}
	}
	for _, c := range allContainers(render(t, "overlays/production")) {
		require.NotEqual(t, "localhost/sieve:dev", c.Image)
	}
	dir := t.TempDir()
	base, err := filepath.Rel(dir, deployDir("base"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(
		"resources: ["+base+"]\nimages:\n  - name: localhost/sieve\n    newName: registry.test/sieve\n    newTag: v9\n"), 0o644))
	m, err := decodeManifests(kustomize(t, dir))
	require.NoError(t, err)
	for _, c := range allContainers(m) {
		require.Equal(t, "registry.test/sieve:v9", c.Image, c.Name)
	}
}

func allContainers(m *manifests) []corev1.Container {
	var out []corev1.Container
	for _, ds := range m.DaemonSets {
		out = append(out, ds.Spec.Template.Spec.Containers...)
		out = append(out, ds.Spec.Template.Spec.InitContainers...)
	}
	for _, sts := range m.StatefulSets {
		out = append(out, sts.Spec.Template.Spec.Containers...)
		out = append(out, sts.Spec.Template.Spec.InitContainers...)
	}
	return out
}
