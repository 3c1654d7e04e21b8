package tieredsampling

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/probabilisticsamplerprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
)

// upstreamPipeline is the way to build the classic policy from stock components: transform
// stamps a priority per tier and probabilistic_sampler (equalizing, 0.1% base rate) honours it.
func upstreamPipeline(tb testing.TB, next consumer.Logs) (first consumer.Logs, shutdown func()) {
	tb.Helper()
	ctx := context.Background()
	sf := probabilisticsamplerprocessor.NewFactory()
	scfg := sf.CreateDefaultConfig()
	require.NoError(tb, confmap.NewFromStringMap(map[string]any{
		"sampling_percentage": 0.1, "mode": "equalizing", "sampling_precision": 4,
		"sampling_priority": "sampling.priority",
	}).Unmarshal(scfg))
	sampler, err := sf.CreateLogs(ctx, processortest.NewNopSettings(sf.Type()), scfg, next)
	require.NoError(tb, err)

	tf := transformprocessor.NewFactory()
	tcfg := tf.CreateDefaultConfig()
	require.NoError(tb, confmap.NewFromStringMap(map[string]any{
		"log_statements": []any{map[string]any{
			"context": "log",
			"statements": []any{
				`set(attributes["sampling.priority"], 100) where ` + classicErrorCondition,
				`set(attributes["sampling.priority"], 10) where attributes["sampling.priority"] == nil and ` + classicWarnCondition,
			},
		}},
	}).Unmarshal(tcfg))
	transform, err := tf.CreateLogs(ctx, processortest.NewNopSettings(tf.Type()), tcfg, sampler)
	require.NoError(tb, err)
	host := hostWith(map[component.ID]component.Component{})
	for _, c := range []processor.Logs{sampler, transform} {
		require.NoError(tb, c.Start(ctx, host))
	}
	return transform, func() {
		require.NoError(tb, transform.Shutdown(ctx))
		require.NoError(tb, sampler.Shutdown(ctx))
	}
}

// BenchmarkVersusUpstream runs the same batches through tiered_sampling and through the stock
// transform + probabilistic_sampler pipeline, both ending in a no-op consumer, so the ns/record
// figures are directly comparable.
func BenchmarkVersusUpstream(b *testing.B) {
	const batch = 1000
	ctx := context.Background()
	ours, err := createLogs(ctx, processortest.NewNopSettings(processortest.NopType), defaultCfg(), consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, ours.Start(ctx, hostWith(map[component.ID]component.Component{})))
	b.Cleanup(func() { require.NoError(b, ours.Shutdown(ctx)) })
	upstream, stop := upstreamPipeline(b, consumertest.NewNop())
	b.Cleanup(stop)

	for _, tc := range []struct {
		name string
		c    consumer.Logs
	}{{"tiered_sampling", ours}, {"transform+probabilistic_sampler", upstream}} {
		b.Run(tc.name, func(b *testing.B) {
			src := benchBatch(batch)
			copies := make([]plog.Logs, 64)
			b.ReportAllocs()
			var ms runtime.MemStats
			var timed, start uint64 // mallocs while the timer ran, excluding the input copies
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(copies) == 0 {
					b.StopTimer()
					if i > 0 {
						runtime.ReadMemStats(&ms)
						timed += ms.Mallocs - start
					}
					for j := range copies {
						copies[j] = plog.NewLogs()
						src.CopyTo(copies[j])
					}
					runtime.ReadMemStats(&ms)
					start = ms.Mallocs
					b.StartTimer()
				}
				_ = tc.c.ConsumeLogs(ctx, copies[i%len(copies)])
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			timed += ms.Mallocs - start
			reportPerRecord(b, timed, batch)
		})
	}
}

// TestUpstreamPipelineKeepsSameTiers makes sure the comparison is fair: on the same input both
// pipelines keep the same records.
func TestUpstreamPipelineKeepsSameTiers(t *testing.T) {
	ctx := context.Background()
	src := benchBatch(20_000)
	upSink := new(consumertest.LogsSink)
	upstream, stop := upstreamPipeline(t, upSink)
	defer stop()
	upIn := plog.NewLogs()
	src.CopyTo(upIn)
	require.NoError(t, upstream.ConsumeLogs(ctx, upIn))

	p := newTestProcessor(t, defaultCfg(), nil, nil)
	ours, err := p.processLogs(ctx, src)
	require.NoError(t, err)

	type key struct {
		trace string
		sev   plog.SeverityNumber
	}
	collect := func(lds ...plog.Logs) map[key]int {
		m := map[key]int{}
		for _, ld := range lds {
			for _, lr := range allRecords(ld) {
				m[key{lr.TraceID().String(), lr.SeverityNumber()}]++
			}
		}
		return m
	}
	want := collect(upSink.AllLogs()...)
	require.NotEmpty(t, want)
	require.Equal(t, want, collect(ours))
}
