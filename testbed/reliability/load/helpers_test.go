package load

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// The loss rule is what every run in this package rests on: it must catch each kind of loss.
func TestJudge(t *testing.T) {
	exp := Expectation{Fractions: map[loadgen.Class]float64{loadgen.ClassKeep: 1, loadgen.ClassInfo: 0.1, loadgen.ClassNoUID: 0}, Cluster: 1}
	stats := func(keep, info, nouid uint64) loadgen.Stats {
		m := map[loadgen.Class]uint64{loadgen.ClassKeep: keep, loadgen.ClassInfo: info, loadgen.ClassNoUID: nouid}
		return loadgen.Stats{SentItems: m, AckedItems: m}
	}
	counts := func(keep, info, nouid, dups uint64) sinks.Counts {
		c := sinks.Counts{Unique: map[loadgen.Class]uint64{}, Duplicates: map[loadgen.Class]uint64{}}
		for cl, n := range map[loadgen.Class]uint64{loadgen.ClassKeep: keep, loadgen.ClassInfo: info, loadgen.ClassNoUID: nouid} {
			if n > 0 {
				c.Unique[cl] = n
			}
		}
		if dups > 0 {
			c.Duplicates[loadgen.ClassKeep] = dups
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		st      loadgen.Stats
		got     sinks.Counts
		problem string
	}{
		{"all kept, sampled share on target", stats(1000, 100000, 50), counts(1000, 10000, 0, 0), ""},
		{"one must-keep item lost", stats(1000, 100000, 50), counts(999, 10000, 0, 0), "class keep: 1 of 1000 acked items lost"},
		{"dropped class arrived", stats(1000, 100000, 50), counts(1000, 10000, 1, 0), "class no_uid must be dropped"},
		{"sampled share far too low", stats(1000, 100000, 50), counts(1000, 9000, 0, 0), "class info: 9000 of 100000"},
		{"sampled share far too high", stats(1000, 100000, 50), counts(1000, 11000, 0, 0), "class info: 11000 of 100000"},
		{"duplicates", stats(1000, 100000, 50), counts(1000, 10000, 0, 3), "3 items arrived more than once"},
		{
			"unacked items may arrive",
			loadgen.Stats{SentItems: map[loadgen.Class]uint64{loadgen.ClassKeep: 1100}, AckedItems: map[loadgen.Class]uint64{loadgen.ClassKeep: 1000}},
			counts(1100, 0, 0, 0), "",
		},
		{
			"more arrived than sent",
			loadgen.Stats{SentItems: map[loadgen.Class]uint64{loadgen.ClassKeep: 1000}, AckedItems: map[loadgen.Class]uint64{loadgen.ClassKeep: 1000}},
			counts(1001, 0, 0, 0), "1001 arrived, only 1000 sent",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.st, tc.got, exp)
			if tc.problem == "" {
				require.Empty(t, v.Problems)
				return
			}
			require.Len(t, v.Problems, 1)
			require.Contains(t, v.Problems[0], tc.problem)
		})
	}
}

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		xs, ys []float64
		want   float64
	}{
		{"rising line", []float64{0, 1, 2, 3}, []float64{10, 12, 14, 16}, 2},
		{"flat with noise", []float64{0, 1, 2, 3}, []float64{5, 6, 5, 6}, 0.2},
		{"falling", []float64{0, 0.5, 1}, []float64{30, 20, 10}, -20},
		{"single point", []float64{1}, []float64{1}, 0},
		{"no spread in x", []float64{2, 2}, []float64{1, 3}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, Slope(tc.xs, tc.ys), 1e-9)
		})
	}
}

// The derived configuration must be the shipped gateway with only the requested changes.
func TestGatewayConfigEdits(t *testing.T) {
	path, err := GatewayConfig(t.TempDir(), SampledTracesTo("127.0.0.1:1"), Set("200ms", "extensions", "sampling_policy", "file", "debounce"))
	require.NoError(t, err)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	pipelines := cfg["service"].(map[string]any)["pipelines"].(map[string]any)
	require.Equal(t, []any{"${env:SIEVE_TRACES_EXPORTER:-otlp_grpc/traces}", "otlp_grpc/sink"}, pipelines["traces/sampled"].(map[string]any)["exporters"])
	require.Equal(t, []any{"loki"}, pipelines["logs"].(map[string]any)["exporters"], "other pipelines unchanged")
	file := cfg["extensions"].(map[string]any)["sampling_policy"].(map[string]any)["file"].(map[string]any)
	require.Equal(t, "200ms", file["debounce"])
	require.True(t, strings.HasPrefix(file["path"].(string), "${env:SIEVE_POLICY_FILE"), "env references survive the rewrite")

	_, err = GatewayConfig(t.TempDir(), Delete("extensions", "no_such_extension"))
	require.Error(t, err, "an edit of something the gateway lacks must fail loudly")
}
