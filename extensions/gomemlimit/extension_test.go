package gomemlimit

import (
	"context"
	"errors"
	"runtime/debug"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/extensions/gomemlimit/internal/metadatatest"
)

func start(t *testing.T, cfg *Config, provider memlimit.Provider) (*limiter, *componenttest.Telemetry) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	l, err := newLimiter(metadatatest.NewSettings(tt), cfg, provider)
	require.NoError(t, err)
	require.NoError(t, l.Start(context.Background(), componenttest.NewNopHost()))
	return l, tt
}

func TestSetsLimitFromProviderAndRestoresIt(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	l, tt := start(t, &Config{Ratio: 0.5}, memlimit.Limit(1<<30))
	require.Equal(t, int64(1<<29), debug.SetMemoryLimit(-1))
	metadatatest.AssertEqualGoMemoryLimit(t, tt, []metricdata.DataPoint[int64]{{Value: 1 << 29}}, metricdatatest.IgnoreTimestamp())

	require.NoError(t, l.Shutdown(context.Background()))
	require.Equal(t, before, debug.SetMemoryLimit(-1))
}

func TestEnvironmentWins(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "123MiB")
	before := debug.SetMemoryLimit(-1)
	l, _ := start(t, &Config{Ratio: 0.5}, memlimit.Limit(1<<30))
	require.Equal(t, before, debug.SetMemoryLimit(-1))
	require.NoError(t, l.Shutdown(context.Background()))
}

func TestProviderFailureKeepsCurrentLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	failing := func() (uint64, error) { return 0, errors.New("no cgroup and no /proc/meminfo") }
	l, _ := start(t, &Config{Ratio: 0.5}, failing)
	require.Equal(t, before, debug.SetMemoryLimit(-1))
	require.NoError(t, l.Shutdown(context.Background()))
}

func TestRefreshStopsAtShutdown(t *testing.T) {
	// goleak in TestMain fails the package if the refresh goroutine outlives Shutdown.
	l, _ := start(t, &Config{Ratio: 0.9, RefreshInterval: time.Millisecond}, memlimit.Limit(1<<30))
	require.NoError(t, l.Shutdown(context.Background()))
}
