package finehistogram

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadatatest"
)

// newPoolMember is a connector as one replica of a gateway pool runs it: the collector's own
// resource carries the replica's service.instance.id.
func newPoolMember(t *testing.T, collectorInstance string, mutate func(*Config)) (*fineHistogramConnector, *consumertest.MetricsSink, *fakeClock) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.Resource.Attributes().PutStr("service.instance.id", collectorInstance)
	sink := new(consumertest.MetricsSink)
	clk := newFakeClock()
	c, err := newConnector(set, cfg, sink, clk)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	return c, sink, clk
}

func pointAttr(t *testing.T, md pmetric.Metrics, key string) []string {
	t.Helper()
	dps := histPoints(t, md, "span.duration")
	var out []string
	for i := 0; i < dps.Len(); i++ {
		v, ok := dps.At(i).Attributes().Get(key)
		if !ok {
			out = append(out, "<absent>")
			continue
		}
		out = append(out, v.AsString())
	}
	return out
}

// Two replicas that each see a share of the same service's spans must write different series;
// the default attribute is contrib spanmetrics' collector.instance.id.
func TestPoolReplicasWriteDistinctSeries(t *testing.T) {
	spans := []spanSpec{
		{svc: "checkout", name: "GET /cart", kind: ptrace.SpanKindServer, dur: 20 * time.Millisecond, id: 1},
		{svc: "checkout", name: "GET /cart", kind: ptrace.SpanKindServer, dur: 30 * time.Millisecond, id: 2},
	}
	var got []string
	for _, gw := range []string{"gw-a", "gw-b"} {
		c, sink, _ := newPoolMember(t, gw, nil)
		require.NoError(t, c.ConsumeTraces(context.Background(), buildTraces(t, spans...)))
		c.flush(context.Background())
		require.Len(t, sink.AllMetrics(), 1)
		got = append(got, pointAttr(t, sink.AllMetrics()[0], "collector.instance.id")...)
	}
	require.Equal(t, []string{"gw-a", "gw-b"}, got)
}

func TestPoolInstanceIDAndAttributeConfigurable(t *testing.T) {
	span := spanSpec{svc: "checkout", name: "GET /cart", kind: ptrace.SpanKindServer, dur: 20 * time.Millisecond, id: 1}

	c, sink, _ := newPoolMember(t, "uuid-1", func(cfg *Config) {
		cfg.InstanceAttribute = "sieve.gateway"
		cfg.InstanceID = "sieve-gateway-0"
	})
	require.NoError(t, c.ConsumeTraces(context.Background(), buildTraces(t, span)))
	c.flush(context.Background())
	md := sink.AllMetrics()[0]
	require.Equal(t, []string{"sieve-gateway-0"}, pointAttr(t, md, "sieve.gateway"))
	require.Equal(t, []string{"<absent>"}, pointAttr(t, md, "collector.instance.id"))

	// A single collector may leave the attribute out.
	c, sink, _ = newPoolMember(t, "uuid-2", func(cfg *Config) { cfg.InstanceAttribute = "" })
	require.NoError(t, c.ConsumeTraces(context.Background(), buildTraces(t, span)))
	c.flush(context.Background())
	require.Equal(t, []string{"<absent>"}, pointAttr(t, sink.AllMetrics()[0], "collector.instance.id"))
}

// Delta histograms from several agents carry each agent's own instance attribute: the gateway
// merges them into one series of its own instead of one per agent.
func TestPoolMergeReplacesAgentInstance(t *testing.T) {
	bounds := []float64{0.1, 0.2, 0.5}
	c, sink, _ := newPoolMember(t, "gw-a", func(cfg *Config) { cfg.Histogram.Explicit.Bounds = bounds })
	for _, agent := range []string{"agent-1", "agent-2"} {
		md, ms := agentMetrics(agent)
		addExplicit(ms, pmetric.AggregationTemporalityDelta, bounds, []uint64{1, 2, 3, 4}, 5, "/x")
		ms.At(0).Histogram().DataPoints().At(0).Attributes().PutStr("collector.instance.id", agent)
		require.NoError(t, c.ConsumeMetrics(context.Background(), md))
	}
	c.flush(context.Background())
	md := sink.AllMetrics()[0]
	dps := histPoints(t, md, "span.duration")
	require.Equal(t, 1, dps.Len())
	require.Equal(t, uint64(20), dps.At(0).Count())
	require.Equal(t, []string{"gw-a"}, pointAttr(t, md, "collector.instance.id"))
}
