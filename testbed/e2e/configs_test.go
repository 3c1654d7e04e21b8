package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/harness"
)

func sieveCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := harness.SieveBinary()
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "SIEVE_STORAGE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestShippedConfigsValidate(t *testing.T) {
	configs, err := filepath.Glob(harness.RepoPath("configs/*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(configs), 3, "agent, gateway and demo configs are shipped")
	for _, cfg := range configs {
		if filepath.Base(cfg) == "policy.yaml" {
			continue // the live sampling policy, not a collector configuration
		}
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			out, err := sieveCommand(t, "validate", "--config", cfg)
			require.NoError(t, err, out)
		})
	}
}

func TestBrokenConfigIsRefusedNamingTheKey(t *testing.T) {
	for file, want := range map[string]string{
		"unknown-key.yaml":       "check_intervall",
		"bad-value.yaml":         "limit_percentage",
		"unknown-component.yaml": "lokii",
		"wrong-type.yaml":        "send_batch_size",
		// contrib's exporter name is taken; its keys that Sieve does not take name the way out.
		"contrib-prometheusremotewrite.yaml": "wal: a key of contrib's prometheusremotewrite exporter that Sieve does not take: use a persistent sending queue: sending_queue::storage: file_storage",
	} {
		t.Run(file, func(t *testing.T) {
			out, err := sieveCommand(t, "validate", "--config", filepath.Join("testdata", file))
			require.Error(t, err, "sieve accepted a broken config:\n%s", out)
			require.Contains(t, out, want)
		})
	}
}

func TestComponentsListed(t *testing.T) {
	out, err := sieveCommand(t, "components")
	require.NoError(t, err, out)
	for _, name := range []string{
		"otlp", "file_log", "prometheus", "host_metrics", // receivers
		"batch", "memory_limiter", "transform", "filter", // processors
		"otlp_grpc", "otlp_http", "debug", "load_balancing", "prometheus_remote_write", // exporters
		"health_check", "pprof", "zpages", "file_storage", // extensions
	} {
		require.True(t, strings.Contains(out, "- name: "+name+"\n"), "component %s missing from `sieve components`", name)
	}
}

// contrib's name for the remote-write exporter still loads, as a deprecated alias.
func TestContribExporterNameAccepted(t *testing.T) {
	out, err := sieveCommand(t, "validate", "--config", filepath.Join("testdata", "contrib-prometheusremotewrite-alias.yaml"))
	require.NoError(t, err, out)
}
