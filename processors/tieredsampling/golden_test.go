package tieredsampling

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*/expected.json from the processor's output")

// TestGoldenFiles runs each testdata/golden/<case>/input.json through the processor configured by
// the case and compares with expected.json. Regenerate with `go test -run TestGoldenFiles -update`
// and review the diff: every expected file is a statement about behaviour.
func TestGoldenFiles(t *testing.T) {
	cases := map[string]func(*Config){
		"classic": func(*Config) {},
		"required_uid_and_drop_tier": func(c *Config) {
			c.RequiredAttributes = []string{"uid"}
			c.Tiers = append([]TierConfig{{Name: "health", Condition: `attributes["http.route"] == "/healthz"`, Drop: true}}, c.Tiers...)
			c.HashAttribute = "request.id"
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "golden", name)
			raw, err := os.ReadFile(filepath.Join(dir, "input.json"))
			require.NoError(t, err)
			in, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(raw)
			require.NoError(t, err)

			cfg := defaultCfg()
			mod(cfg)
			require.NoError(t, cfg.Validate())
			p := newTestProcessor(t, cfg, nil, nil)
			out, err := p.processLogs(context.Background(), in)
			require.NoError(t, err)
			got, err := (&plog.JSONMarshaler{}).MarshalLogs(out)
			require.NoError(t, err)

			expectedPath := filepath.Join(dir, "expected.json")
			if *updateGolden {
				require.NoError(t, os.WriteFile(expectedPath, got, 0o600))
			}
			want, err := os.ReadFile(expectedPath)
			require.NoError(t, err)
			wantLogs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(want)
			require.NoError(t, err)
			wantNorm, err := (&plog.JSONMarshaler{}).MarshalLogs(wantLogs)
			require.NoError(t, err)
			require.JSONEq(t, string(wantNorm), string(got))
		})
	}
}
