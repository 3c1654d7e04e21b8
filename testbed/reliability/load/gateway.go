package load

import (
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/sieveobs/sieve/testbed/harness"
)

// Edit changes a parsed collector configuration.
type Edit func(cfg map[string]any) error

// GatewayConfig writes configs/gateway.yaml, changed by the edits, into dir and returns the
// file's path. Deriving the test configuration from the shipped file at run time keeps the tests
// on the pipeline operators deploy instead of on a copy that drifts from it.
func GatewayConfig(dir string, edits ...Edit) (string, error) {
	raw, err := os.ReadFile(harness.RepoPath("configs/gateway.yaml"))
	if err != nil {
		return "", err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return "", fmt.Errorf("configs/gateway.yaml: %w", err)
	}
	for _, e := range edits {
		if err := e(cfg); err != nil {
			return "", err
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "gateway.yaml")
	return path, os.WriteFile(path, out, 0o600)
}

// Set puts value at path, creating the maps on the way.
func Set(value any, path ...string) Edit {
	return func(cfg map[string]any) error {
		m, err := mapAt(cfg, path[:len(path)-1], true)
		if err != nil {
			return err
		}
		m[path[len(path)-1]] = value
		return nil
	}
}

// Delete removes the key at path; a missing key is an error, so an edit cannot silently stop
// applying when the shipped configuration changes.
func Delete(path ...string) Edit {
	return func(cfg map[string]any) error {
		m, err := mapAt(cfg, path[:len(path)-1], false)
		if err != nil {
			return err
		}
		if _, ok := m[path[len(path)-1]]; !ok {
			return fmt.Errorf("gateway config has no %v", path)
		}
		delete(m, path[len(path)-1])
		return nil
	}
}

// Overlay merges a configuration file of the repository over the configuration key by key, as the
// collector merges a second --config (a list replaces the list it overrides).
func Overlay(rel string) Edit {
	return func(cfg map[string]any) error {
		raw, err := os.ReadFile(harness.RepoPath(rel))
		if err != nil {
			return err
		}
		var over map[string]any
		if err := yaml.Unmarshal(raw, &over); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		mergeInto(cfg, over)
		return nil
	}
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// AppendExporter adds an exporter to a pipeline's exporter list.
func AppendExporter(pipeline, exporter string) Edit {
	return func(cfg map[string]any) error {
		p, err := mapAt(cfg, []string{"service", "pipelines", pipeline}, false)
		if err != nil {
			return err
		}
		list, ok := p["exporters"].([]any)
		if !ok {
			return fmt.Errorf("pipeline %s has no exporter list", pipeline)
		}
		p["exporters"] = append(list, exporter)
		return nil
	}
}

// SampledTracesTo also sends the sampled traces, which the gateway hands to its trace backend
// (SIEVE_TRACES_OTLP_ENDPOINT), to an OTLP gRPC endpoint so they can be counted. The rest of the
// pipeline is unchanged.
func SampledTracesTo(grpcAddr string) Edit {
	return func(cfg map[string]any) error {
		if err := Set(map[string]any{
			"endpoint": grpcAddr,
			"tls":      map[string]any{"insecure": true},
		}, "exporters", "otlp_grpc/sink")(cfg); err != nil {
			return err
		}
		return AppendExporter("traces/sampled", "otlp_grpc/sink")(cfg)
	}
}

func mapAt(cfg map[string]any, path []string, create bool) (map[string]any, error) {
	m := cfg
	for i, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			if !create || m[k] != nil {
				return nil, fmt.Errorf("gateway config: %v is not a map", path[:i+1])
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m, nil
}
