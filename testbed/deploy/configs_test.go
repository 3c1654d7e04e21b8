package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/sieveobs/sieve/testbed/harness"
)

// TestConfigMapsAreTheShippedConfigs fails when the ConfigMaps the pods mount differ from
// configs/ (run `make generate` to copy them into deploy/kubernetes/base/configs).
func TestConfigMapsAreTheShippedConfigs(t *testing.T) {
	want := map[string]string{
		"sieve-agent-config":   "agent.yaml",
		"sieve-gateway-config": "gateway.yaml",
		"sieve-policy":         "policy.yaml",
	}
	for _, k := range kustomizations {
		t.Run(k, func(t *testing.T) {
			m := render(t, k)
			for cmName, file := range want {
				shipped, err := os.ReadFile(harness.RepoPath(filepath.Join("configs", file)))
				require.NoError(t, err)
				cm := m.configMapNamed(t, cmName)
				require.Equal(t, []string{file}, keys(cm.Data), "ConfigMap %s", cmName)
				if d := firstDifference(string(shipped), cm.Data[file]); d != "" {
					t.Errorf("ConfigMap %s differs from configs/%s (%s): run `make generate`, which copies configs/ into deploy/kubernetes/base/configs",
						cmName, file, d)
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPodConfigsValidate runs `bin/sieve validate` on each pod's configuration as the pod sees
// it: the ConfigMaps laid out at their mount paths and the container's environment resolved.
func TestPodConfigsValidate(t *testing.T) {
	bin, err := harness.SieveBinary()
	require.NoError(t, err)
	for _, k := range kustomizations {
		m := render(t, k)
		pods := map[string]corev1.PodSpec{
			agentName:   m.DaemonSets[agentName].Spec.Template.Spec,
			gatewayName: m.StatefulSets[gatewayName].Spec.Template.Spec,
		}
		for name, spec := range pods {
			t.Run(k+"/"+name, func(t *testing.T) {
				c := spec.Containers[0]
				env, config := podFiles(t, m, spec, c, t.TempDir())
				cmd := exec.Command(bin, "validate", "--config", config)
				cmd.Env = append(os.Environ(), envList(env)...)
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "bin/sieve validate --config %s (env %v):\n%s", config, env, out)
			})
		}
	}
}

// firstDifference describes where two texts first differ, or returns "" when they are equal.
func firstDifference(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl || i >= len(w) || i >= len(g) {
			return fmt.Sprintf("line %d: configs/ has %q, the ConfigMap %q", i+1, wl, gl)
		}
	}
	return "they differ"
}
