package samplingpolicy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/extensions/samplingpolicy/internal/metadatatest"
	"github.com/sieveobs/sieve/internal/policy"
)

const policyV1 = `version: v1
default_rate: 0.1
services:
  checkout:
    rate: 0.5
    operations: {"POST /pay": 1}
rules:
  - {name: health, action: never, span_name: "GET /healthz"}
log_tiers:
  - {name: errors, percent: 100}
`

const policyV2 = `version: v2
default_rate: 0.2
log_tiers:
  - {name: errors, percent: 100}
  - {name: rest, percent: 5}
`

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Server.NetAddr.Endpoint = "localhost:0"
	return cfg
}

func newTestExtension(t *testing.T, cfg *Config) (*policyExtension, *componenttest.Telemetry) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e, err := newExtension(metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	return e, tel
}

func TestApplyRefusesInvalidAndKeepsPrevious(t *testing.T) {
	e, tel := newTestExtension(t, testConfig())
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	require.Equal(t, "fallback", e.engine.Load().Version)

	require.NoError(t, e.apply([]byte(policyV1), "test"))
	require.Equal(t, "v1", e.engine.Load().Version)
	steps := []struct {
		doc    string
		reason string
	}{
		{"default_rate: [", "parse"},
		{"default_rate: 7", "invalid"},
		{"version: x\ndefault_rate: 0.1\nunknown: 1", "parse"},
	}
	for _, st := range steps {
		require.Error(t, e.apply([]byte(st.doc), "test"))
		require.Equal(t, "v1", e.engine.Load().Version, "the previous version stays")
	}
	// A source re-delivering the last refused document is not counted again.
	require.ErrorIs(t, e.apply([]byte(steps[len(steps)-1].doc), "test"), errRefusedAgain)
	// The same content again is not a new version.
	require.NoError(t, e.apply([]byte(policyV1), "test"))

	metadatatest.AssertEqualSamplingPolicyApplied(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualSamplingPolicyRefused(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "parse"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "invalid"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualSamplingPolicyActiveHash(t, tel, []metricdata.DataPoint[int64]{
		{Value: hashGauge(e.engine.Load().Hash)},
	}, metricdatatest.IgnoreTimestamp())
	require.NotZero(t, hashGauge(e.engine.Load().Hash))

	m, err := tel.GetMetric("otelcol_sampling_policy_effective_rate")
	require.NoError(t, err)
	rates := map[string]float64{}
	for _, dp := range m.Data.(metricdata.Gauge[float64]).DataPoints {
		svc, _ := dp.Attributes.Value("service")
		rates[svc.AsString()] = dp.Value
	}
	require.Equal(t, map[string]float64{"": 0.1, "checkout": 0.5}, rates)
}

func TestLogTiersWatchers(t *testing.T) {
	e, tel := newTestExtension(t, testConfig())
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()

	var mu sync.Mutex
	var accepted []string
	stopOK := e.WatchLogTiers(func(lt policy.LogTiers) error {
		mu.Lock()
		defer mu.Unlock()
		accepted = append(accepted, fmt.Sprintf("%s:%d", lt.Version, len(lt.Tiers)))
		return nil
	})
	defer stopOK()
	var refusedCalls atomic.Int64
	stopRefusing := e.WatchLogTiers(func(policy.LogTiers) error {
		refusedCalls.Add(1)
		return errors.New("condition does not compile")
	})

	require.NoError(t, e.apply([]byte(policyV1), "test"))
	require.NoError(t, e.apply([]byte(policyV2), "test"))
	stopRefusing()
	stopRefusing() // idempotent
	require.NoError(t, e.apply([]byte(policyV1), "test"))

	// A late watcher gets the current tiers at once.
	var late []string
	stopLate := e.WatchLogTiers(func(lt policy.LogTiers) error {
		late = append(late, lt.Version)
		return nil
	})
	stopLate()

	mu.Lock()
	require.Equal(t, []string{"v1:1", "v2:2", "v1:1"}, accepted)
	mu.Unlock()
	require.EqualValues(t, 2, refusedCalls.Load(), "a stopped watcher is not called")
	require.Equal(t, []string{"v1"}, late)
	require.Equal(t, "v1", e.engine.Load().Version, "a refused log tier version does not block trace policies")
	metadatatest.AssertEqualSamplingPolicyRefused(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "log_tiers"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestTraceKeptFollowsLivePolicy(t *testing.T) {
	e, _ := newTestExtension(t, testConfig())
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	// Randomness 0x80..: kept at 50% and above, dropped at 10% and 20%.
	id := pcommon.TraceID{8: 0, 9: 0x80}
	require.True(t, e.TraceKept(id, "checkout"), "fallback rate 1 keeps everything")
	require.NoError(t, e.apply([]byte(policyV1), "test"))
	require.True(t, e.TraceKept(id, "checkout"))
	require.False(t, e.TraceKept(id, "other"))
	require.NoError(t, e.apply([]byte(policyV2), "test"))
	require.False(t, e.TraceKept(id, "checkout"))
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

func TestServeSamplingAndPolicy(t *testing.T) {
	cfg := testConfig()
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(policyV1), 0o600))
	cfg.File = configoptional.Some(FileConfig{Path: path, Debounce: time.Millisecond})
	e, _ := newTestExtension(t, cfg)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	base := "http://" + e.addr

	tests := []struct {
		name   string
		query  string
		status int
		want   string
	}{
		{"service with operations", "?service=checkout", 200,
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"GET /healthz","probabilisticSampling":{"samplingRate":0}},{"operation":"POST /pay","probabilisticSampling":{"samplingRate":1}}]}}`},
		{"unknown service gets the default", "?service=web", 200,
			`{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.1},"operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"GET /healthz","probabilisticSampling":{"samplingRate":0}}]}}`},
		{"missing service", "", 400, ""},
		{"two services", "?service=a&service=b", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, base+"/sampling"+tt.query)
			require.Equal(t, tt.status, status)
			if tt.want != "" {
				require.JSONEq(t, tt.want, string(body))
			}
		})
	}

	status, body := get(t, base+"/policy")
	require.Equal(t, 200, status)
	var pr policyResponse
	require.NoError(t, json.Unmarshal(body, &pr))
	require.Equal(t, "v1", pr.Version)
	require.Equal(t, "file:"+path, pr.Source)
	require.Equal(t, "sieve", pr.Format)
	require.Len(t, pr.Hash, 64)
	require.Equal(t, map[string]float64{"": 0.1, "checkout": 0.5}, pr.EffectiveRates)

	status, _ = get(t, base+"/nope")
	require.Equal(t, 404, status)
}

func TestStartFailsOnBadFile(t *testing.T) {
	tests := []struct {
		name    string
		content *string
	}{
		{"missing file", nil},
		{"invalid policy", ptr("default_rate: 3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "policy.yaml")
			if tt.content != nil {
				require.NoError(t, os.WriteFile(path, []byte(*tt.content), 0o600))
			}
			cfg := testConfig()
			cfg.File = configoptional.Some(FileConfig{Path: path})
			e, _ := newTestExtension(t, cfg)
			require.Error(t, e.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, e.Shutdown(context.Background()))
		})
	}
}

func ptr[T any](v T) *T { return &v }

// percentile returns the q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

// TestFileChangeInEffectWithin1s writes successive versions and measures how long each takes to
// be served, the figure the issue asks for (write to effect within 1 s).
func TestFileChangeInEffectWithin1s(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(policyV1), 0o600))
	cfg := testConfig()
	cfg.File = configoptional.Some(FileConfig{Path: path, Debounce: 50 * time.Millisecond})
	e, tel := newTestExtension(t, cfg)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	require.Equal(t, "v1", e.engine.Load().Version)

	const updates = 20
	lat := make([]time.Duration, 0, updates)
	for i := 0; i < updates; i++ {
		version := fmt.Sprintf("file-%d", i)
		// Write to a temporary name and rename, as config management tools do.
		tmp := filepath.Join(dir, ".policy.tmp")
		require.NoError(t, os.WriteFile(tmp, []byte("version: "+version+"\ndefault_rate: 0.3\n"), 0o600))
		start := time.Now()
		require.NoError(t, os.Rename(tmp, path))
		require.Eventually(t, func() bool { return e.engine.Load().Version == version }, time.Second, time.Millisecond,
			"version %s not in effect within 1s", version)
		lat = append(lat, time.Since(start))
	}
	// An in-place write with invalid content is refused, the last version stays.
	require.NoError(t, os.WriteFile(path, []byte("default_rate: -1\n"), 0o600))
	require.Eventually(t, func() bool {
		m, err := tel.GetMetric("otelcol_sampling_policy_refused")
		return err == nil && len(m.Data.(metricdata.Sum[int64]).DataPoints) > 0
	}, 2*time.Second, time.Millisecond)
	require.Equal(t, fmt.Sprintf("file-%d", updates-1), e.engine.Load().Version)

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("file write->effect over %d updates (debounce 50ms): p50=%v p99=%v max=%v",
		updates, percentile(lat, 0.5), percentile(lat, 0.99), lat[len(lat)-1])
	require.Less(t, lat[len(lat)-1], time.Second)
}

type etagServer struct {
	mu       sync.Mutex
	body     string
	hits     atomic.Int64
	notMod   atomic.Int64
	badToken atomic.Int64
}

func (s *etagServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if r.Header.Get("Authorization") != "Bearer s3cret" {
		s.badToken.Add(1)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	body := s.body
	s.mu.Unlock()
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(body)))
	if r.Header.Get("If-None-Match") == etag {
		s.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	_, _ = io.WriteString(w, body)
}

func (s *etagServer) set(body string) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func TestHTTPSourceWithETag(t *testing.T) {
	srv := &etagServer{body: policyV1}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	cfg := testConfig()
	h := cfg.HTTP.GetOrInsertDefault()
	h.Endpoint = ts.URL
	h.Interval = 100 * time.Millisecond
	h.BearerToken = "s3cret"
	e, tel := newTestExtension(t, cfg)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	require.Equal(t, "v1", e.engine.Load().Version, "the first fetch is applied at start")

	// Unchanged polls are answered 304 and never parsed.
	require.Eventually(t, func() bool { return srv.notMod.Load() >= 3 }, 5*time.Second, time.Millisecond)
	const updates = 10
	lat := make([]time.Duration, 0, updates)
	for i := 0; i < updates; i++ {
		version := fmt.Sprintf("http-%d", i)
		start := time.Now()
		srv.set("version: " + version + "\ndefault_rate: 0.3\n")
		require.Eventually(t, func() bool { return e.engine.Load().Version == version }, 5*time.Second, time.Millisecond)
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("http write->effect over %d updates (interval 100ms): p50=%v p99=%v", updates, percentile(lat, 0.5), percentile(lat, 0.99))
	srv.set(policyV2)
	require.Eventually(t, func() bool { return e.engine.Load().Version == "v2" }, 5*time.Second, time.Millisecond)

	srv.set("version: v3\ndefault_rate: 9\n")
	require.Eventually(t, func() bool {
		m, err := tel.GetMetric("otelcol_sampling_policy_refused")
		return err == nil && len(m.Data.(metricdata.Sum[int64]).DataPoints) > 0
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, "v2", e.engine.Load().Version, "an invalid version is refused, the previous stays")
	require.Zero(t, srv.badToken.Load())
	metadatatest.AssertEqualSamplingPolicyApplied(t, tel, []metricdata.DataPoint[int64]{{Value: 2 + updates}}, metricdatatest.IgnoreTimestamp())
}

func TestHTTPSourceUnreachableServesFallback(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	cfg := testConfig()
	cfg.FallbackRate = 0.5
	h := cfg.HTTP.GetOrInsertDefault()
	h.Endpoint = url
	e, tel := newTestExtension(t, cfg)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	require.Equal(t, "fallback", e.engine.Load().Version)
	require.InDelta(t, 0.5, e.engine.Load().Default().Rate().Probability, 0)
	metadatatest.AssertEqualSamplingPolicySourceErrors(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "fetch"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestAdaptiveTickServesEffectiveRates(t *testing.T) {
	e, _ := newTestExtension(t, testConfig())
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	require.NoError(t, e.apply([]byte("version: a\ndefault_rate: 1\nadaptive:\n  - {service: api, target_spans_per_second: 100}\n"), "test"))
	clock := time.Unix(0, 0)
	e.tick(clock)
	api := e.engine.Load().Lookup("api")
	for i := 0; i < 6; i++ {
		api.Observe(10000, 100, 0)
		clock = clock.Add(10 * time.Second)
		e.tick(clock)
	}
	resp := strategyFor(e.engine.Load(), "api")
	require.InEpsilon(t, 0.1, resp.ProbabilisticSampling.SamplingRate, 0.02, "/sampling serves the effective rate")
}
