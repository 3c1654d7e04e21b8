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

// fakeRuntime stands for the process's environment and GOGC.
type fakeRuntime struct {
	env       map[string]string
	gcPercent int
	sets      []int // every SetGCPercent argument, in order
}

func newFakeRuntime(env map[string]string) *fakeRuntime {
	return &fakeRuntime{env: env, gcPercent: 100}
}

func (f *fakeRuntime) LookupEnv(key string) (string, bool) {
	v, ok := f.env[key]
	return v, ok
}

func (f *fakeRuntime) SetGCPercent(percent int) int {
	prev := f.gcPercent
	f.gcPercent = percent
	f.sets = append(f.sets, percent)
	return prev
}

func start(t *testing.T, cfg *Config, provider memlimit.Provider) (*limiter, *componenttest.Telemetry) {
	t.Helper()
	return startWith(t, cfg, provider, newFakeRuntime(nil))
}

func startWith(t *testing.T, cfg *Config, provider memlimit.Provider, rt gcRuntime) (*limiter, *componenttest.Telemetry) {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	l, err := newLimiter(metadatatest.NewSettings(tt), cfg, provider, rt)
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
	before := debug.SetMemoryLimit(-1)
	rt := newFakeRuntime(map[string]string{"GOMEMLIMIT": "123MiB"})
	l, _ := startWith(t, &Config{Ratio: 0.5, GCPercent: 200}, memlimit.Limit(1<<30), rt)
	require.Equal(t, before, debug.SetMemoryLimit(-1))
	require.Empty(t, rt.sets, "no limit set by the extension: GOGC stays")
	require.NoError(t, l.Shutdown(context.Background()))
}

func TestGCPercent(t *testing.T) {
	failing := func() (uint64, error) { return 0, errors.New("no cgroup and no /proc/meminfo") }
	for _, tc := range []struct {
		name     string
		env      map[string]string
		percent  int
		provider memlimit.Provider
		want     []int // SetGCPercent calls through Start and Shutdown
	}{
		{name: "raised with a limit, restored at shutdown", percent: 200, provider: memlimit.Limit(1 << 30), want: []int{200, 100}},
		{name: "user GOGC kept", env: map[string]string{"GOGC": "50"}, percent: 200, provider: memlimit.Limit(1 << 30)},
		{name: "user GOGC=off kept", env: map[string]string{"GOGC": "off"}, percent: 200, provider: memlimit.Limit(1 << 30)},
		{name: "empty GOGC is the user's too", env: map[string]string{"GOGC": ""}, percent: 200, provider: memlimit.Limit(1 << 30)},
		{name: "no limit read, no raise", percent: 200, provider: failing},
		{name: "user GOMEMLIMIT, no raise", env: map[string]string{"GOMEMLIMIT": "1GiB"}, percent: 200, provider: memlimit.Limit(1 << 30)},
		{name: "gc_percent 0 leaves GOGC alone", percent: 0, provider: memlimit.Limit(1 << 30)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := debug.SetMemoryLimit(-1)
			rt := newFakeRuntime(tc.env)
			l, _ := startWith(t, &Config{Ratio: 0.5, GCPercent: tc.percent}, tc.provider, rt)
			if len(tc.want) > 0 {
				require.Equal(t, tc.percent, rt.gcPercent)
			}
			require.NoError(t, l.Shutdown(context.Background()))
			require.Equal(t, tc.want, rt.sets)
			require.Equal(t, 100, rt.gcPercent)
			require.Equal(t, before, debug.SetMemoryLimit(-1))
		})
	}
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
