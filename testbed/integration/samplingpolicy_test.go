package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/contrib/samplers/jaegerremote"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	samplingpolicy "github.com/sieveobs/sieve/extensions/samplingpolicy"
	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/testbed/backends"
)

type policyExt struct {
	extension.Extension
	engine *engine.Engine
	tel    *componenttest.Telemetry
	addr   string
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startExtension builds the sampling_policy extension through its factory, as the collector does.
func startExtension(t *testing.T, configure func(*samplingpolicy.Config)) *policyExt {
	f := samplingpolicy.NewFactory()
	cfg := f.CreateDefaultConfig().(*samplingpolicy.Config)
	addr := freeAddr(t)
	cfg.Server.NetAddr.Endpoint = addr
	configure(cfg)
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	set := extensiontest.NewNopSettings(f.Type())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.NewNop()
	ext, err := f.Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, ext.Shutdown(context.Background()))
		require.NoError(t, tel.Shutdown(context.Background()))
	})
	return &policyExt{Extension: ext, engine: ext.(engine.Provider).Engine(), tel: tel, addr: addr}
}

// waitVersion polls the live snapshot and returns when version is served.
func waitVersion(t *testing.T, e *policyExt, version string, timeout time.Duration) {
	t.Helper()
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for e.engine.Load().Version != version {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("version %q not in effect after %v (serving %q)", version, timeout, e.engine.Load().Version)
		}
	}
}

func refusedCount(t *testing.T, tel *componenttest.Telemetry) int64 {
	m, err := tel.GetMetric("otelcol_sampling_policy_refused")
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

func policyDoc(version string, rate float64) string {
	return fmt.Sprintf("version: %s\ndefault_rate: %v\nservices:\n  shop:\n    rate: %v\nrules:\n  - {name: health, action: never, span_name: \"GET /healthz\"}\n", version, rate, rate)
}

func pct(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

func TestEtcdSourceLatencyRestartAndRefusal(t *testing.T) {
	etcd := backends.StartEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	const key = "/sieve/sampling-policy"
	put := func(doc string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := cli.Put(ctx, key, doc)
		require.NoError(t, err)
	}
	put(policyDoc("etcd-0", 0.5))

	e := startExtension(t, func(c *samplingpolicy.Config) {
		ec := c.Etcd.GetOrInsertDefault()
		ec.Endpoints = []string{etcd.Endpoint}
		ec.Key = key
		ec.MaxBackoff = 500 * time.Millisecond
	})
	require.Equal(t, "etcd-0", e.engine.Load().Version, "the key is read at start")

	// (1) write -> effect latency.
	const updates = 50
	lat := make([]time.Duration, 0, updates)
	for i := 1; i <= updates; i++ {
		version := fmt.Sprintf("etcd-%d", i)
		start := time.Now()
		put(policyDoc(version, 0.1+float64(i%5)/10))
		waitVersion(t, e, version, 5*time.Second)
		lat = append(lat, time.Since(start))
	}
	// The first put races the watch stream being opened after start; it is reported apart.
	first := lat[0]
	steady := append([]time.Duration(nil), lat[1:]...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	sort.Slice(steady, func(i, j int) bool { return steady[i] < steady[j] })
	t.Logf("etcd put->effect over %d updates: p50=%v p99=%v max=%v (first after start %v; without it p50=%v p99=%v)",
		updates, pct(lat, 0.5), pct(lat, 0.99), lat[len(lat)-1], first, pct(steady, 0.5), pct(steady, 0.99))

	// (2) etcd restarts: the watch recovers, and a version written after the restart arrives.
	etcd.Stop(t)
	etcd.Start(t)
	restarted := time.Now()
	put(policyDoc("after-restart", 0.3))
	waitVersion(t, e, "after-restart", 30*time.Second)
	t.Logf("etcd restart: version written after restart in effect %v after etcd was up", time.Since(restarted))
	start := time.Now()
	put(policyDoc("after-restart-2", 0.4))
	waitVersion(t, e, "after-restart-2", 5*time.Second)
	t.Logf("etcd put->effect on the recovered watch: %v", time.Since(start))

	// (3) an invalid version is refused and the previous one stays.
	before := refusedCount(t, e.tel)
	put("version: broken\ndefault_rate: 2\n")
	require.Eventually(t, func() bool { return refusedCount(t, e.tel) > before }, 10*time.Second, time.Millisecond)
	require.Equal(t, "after-restart-2", e.engine.Load().Version)
	require.InDelta(t, 0.4, e.engine.Load().Lookup("shop").Rate().Probability, 0)
	put(policyDoc("fixed", 0.2))
	waitVersion(t, e, "fixed", 5*time.Second)
}

// sampledFraction asks the sampler about the same fixed set of trace IDs.
func sampledFraction(s sdktrace.Sampler, name string, ids []trace.TraceID) float64 {
	kept := 0
	for _, id := range ids {
		if s.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: id, Name: name, Kind: trace.SpanKindServer}).Decision == sdktrace.RecordAndSample {
			kept++
		}
	}
	return float64(kept) / float64(len(ids))
}

func TestJaegerRemoteSamplerAppliesServedRates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(policyDoc("jr-1", 0.25)), 0o600))
	e := startExtension(t, func(c *samplingpolicy.Config) {
		c.File = configoptional.Some(samplingpolicy.FileConfig{Path: path, Debounce: 10 * time.Millisecond})
	})

	sampler := jaegerremote.New("shop",
		jaegerremote.WithSamplingServerURL("http://"+e.addr+"/sampling"),
		jaegerremote.WithSamplingRefreshInterval(50*time.Millisecond),
		jaegerremote.WithInitialSampler(sdktrace.AlwaysSample()),
	)
	defer sampler.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]trace.TraceID, 4000)
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], rng.Uint64())
		binary.BigEndian.PutUint64(ids[i][8:], rng.Uint64())
	}
	// 4000 draws: 5 standard deviations at p=0.25 is about 0.034.
	near := func(want float64) func() bool {
		return func() bool {
			got := sampledFraction(sampler, "GET /cart", ids)
			return got > want-0.035 && got < want+0.035
		}
	}
	require.Eventually(t, near(0.25), 10*time.Second, 20*time.Millisecond, "the sampler applies the served 25%%")
	require.Zero(t, sampledFraction(sampler, "GET /healthz", ids), "a never rule is served as a zero operation rate")

	require.NoError(t, os.WriteFile(path, []byte(policyDoc("jr-2", 0.75)), 0o600))
	waitVersion(t, e, "jr-2", 2*time.Second)
	require.Eventually(t, near(0.75), 10*time.Second, 20*time.Millisecond, "the sampler follows a policy change")
}
