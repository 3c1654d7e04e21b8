package finehistogram

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadata"
	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadatatest"
)

var storageID = component.MustNewID("file_storage")

type storageHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// startStorage runs contrib's file_storage on dir, as the gateway does.
func startStorage(t *testing.T, dir string) (storageHost, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{storageID: ext}}, ext
}

type journaled struct {
	c    *fineHistogramConnector
	sink *consumertest.MetricsSink
	tel  *componenttest.Telemetry
}

// startJournaled starts a connector journaling to file_storage on dir. Stopping it like a crash
// is closing the storage without the connector's Shutdown (which would flush).
func startJournaled(t *testing.T, dir string, next func(*consumertest.MetricsSink) error) (*journaled, func()) {
	t.Helper()
	host, ext := startStorage(t, dir)
	cfg := createDefaultConfig().(*Config)
	cfg.Histogram.Explicit.Bounds = []float64{0.01, 0.1, 1}
	cfg.Storage = &storageID
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.MetricsSink)
	var next_ consumer.Metrics = sink
	if next != nil {
		next_ = failingSink{sink: sink, fail: next}
	}
	set := metadatatest.NewSettings(tel)
	set.ID = component.NewID(metadata.Type)
	c, err := newConnector(set, cfg, next_, newFakeClock())
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), host))
	crash := func() {
		// The flush loop is stopped so it cannot run after the "process" is gone; nothing is
		// flushed and the journal is left as it was.
		c.mu.Lock()
		c.started = false
		c.mu.Unlock()
		close(c.done)
		<-c.loopDone
		// A dead process releases its file: the client's bbolt file is closed as the kernel
		// would close it, without any write.
		require.NoError(t, c.journal.close(context.Background()))
		require.NoError(t, ext.Shutdown(context.Background()))
	}
	return &journaled{c: c, sink: sink, tel: tel}, crash
}

type failingSink struct {
	sink *consumertest.MetricsSink
	fail func(*consumertest.MetricsSink) error
}

func (failingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (f failingSink) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if err := f.fail(f.sink); err != nil {
		return err
	}
	return f.sink.ConsumeMetrics(ctx, md)
}

func spanBatch(t *testing.T, n int, first byte) ptrace.Traces {
	t.Helper()
	specs := make([]spanSpec, n)
	for i := range specs {
		specs[i] = spanSpec{svc: "checkout", name: "GET /cart", kind: ptrace.SpanKindServer, dur: 20 * time.Millisecond, id: first + byte(i)}
	}
	return buildTraces(t, specs...)
}

func countOf(t *testing.T, md pmetric.Metrics) uint64 {
	t.Helper()
	dps := histPoints(t, md, "span.duration")
	var n uint64
	for i := 0; i < dps.Len(); i++ {
		n += dps.At(i).Count()
	}
	return n
}

// A crash after requests were acknowledged and before the flush that would carry them: the
// restarted connector counts them from the journal, once.
func TestJournalReplaysRequestsAfterCrash(t *testing.T) {
	dir := t.TempDir()
	j, crash := startJournaled(t, dir, nil)
	require.NoError(t, j.c.ConsumeTraces(context.Background(), spanBatch(t, 3, 0)))
	j.c.flush(context.Background()) // reaches the sink: the journal is trimmed
	require.Equal(t, uint64(3), countOf(t, j.sink.AllMetrics()[0]))
	require.NoError(t, j.c.ConsumeTraces(context.Background(), spanBatch(t, 4, 10)))
	require.NoError(t, j.c.ConsumeTraces(context.Background(), spanBatch(t, 5, 20)))
	crash()

	j2, crash2 := startJournaled(t, dir, nil)
	metadatatest.AssertEqualConnectorFineHistogramJournalReplayed(t, j2.tel,
		[]metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	j2.c.flush(context.Background())
	require.Len(t, j2.sink.AllMetrics(), 1)
	require.Equal(t, uint64(9), countOf(t, j2.sink.AllMetrics()[0]), "the 9 spans after the last flush, not the 3 before it")
	crash2()

	// That flush trimmed the journal: a third start counts nothing again.
	j3, crash3 := startJournaled(t, dir, nil)
	defer crash3()
	j3.c.flush(context.Background())
	require.Empty(t, j3.sink.AllMetrics())
}

// A flush the next pipeline refuses keeps the journal: after a crash its requests still count.
func TestJournalKeptWhenFlushRefused(t *testing.T) {
	dir := t.TempDir()
	refuse := errors.New("queue full")
	j, crash := startJournaled(t, dir, func(*consumertest.MetricsSink) error { return refuse })
	require.NoError(t, j.c.ConsumeTraces(context.Background(), spanBatch(t, 6, 0)))
	j.c.flush(context.Background())
	require.Empty(t, j.sink.AllMetrics())
	crash()

	j2, crash2 := startJournaled(t, dir, nil)
	defer crash2()
	j2.c.flush(context.Background())
	require.Equal(t, uint64(6), countOf(t, j2.sink.AllMetrics()[0]))
}

// Graceful shutdown flushes and trims: nothing is counted twice after a normal restart.
func TestJournalEmptyAfterShutdown(t *testing.T) {
	dir := t.TempDir()
	host, ext := startStorage(t, dir)
	cfg := createDefaultConfig().(*Config)
	cfg.Storage = &storageID
	sink := new(consumertest.MetricsSink)
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	set.ID = component.NewID(metadata.Type)
	c, err := newConnector(set, cfg, sink, newFakeClock())
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), host))
	require.NoError(t, c.ConsumeTraces(context.Background(), spanBatch(t, 2, 0)))
	require.NoError(t, c.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	require.Equal(t, uint64(2), countOf(t, sink.AllMetrics()[0]))

	j2, crash := startJournaled(t, dir, nil)
	defer crash()
	j2.c.flush(context.Background())
	require.Empty(t, j2.sink.AllMetrics())
}

func TestJournalStorageMissing(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Storage = &storageID
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	c, err := newConnector(set, cfg, new(consumertest.MetricsSink), newFakeClock())
	require.NoError(t, err)
	err = c.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `storage: extension "file_storage" not found`)
	require.NoError(t, c.Shutdown(context.Background()))
}

// A journal write that fails refuses the request before it is counted, so the sender's retry
// counts it once.
func TestJournalWriteFailureRefusesUncounted(t *testing.T) {
	dir := t.TempDir()
	j, crash := startJournaled(t, dir, nil)
	crash() // the storage is closed: every write fails
	err := j.c.ConsumeTraces(context.Background(), spanBatch(t, 3, 0))
	require.Error(t, err)
	j.c.flush(context.Background())
	require.Empty(t, j.sink.AllMetrics(), "a refused request is not counted")
	metadatatest.AssertEqualConnectorFineHistogramJournalErrors(t, j.tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("operation", "write")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
}

// The load_balancing exporter resends a whole batch when one gateway of the pool failed, and a
// sender resends what a crash left unacknowledged: an identical request is counted once.
func TestDuplicateRequestsCountedOnce(t *testing.T) {
	dir := t.TempDir()
	j, crash := startJournaled(t, dir, nil)
	a, b := spanBatch(t, 3, 0), spanBatch(t, 4, 10)
	require.NoError(t, j.c.ConsumeTraces(context.Background(), a))
	require.NoError(t, j.c.ConsumeTraces(context.Background(), a))
	require.NoError(t, j.c.ConsumeTraces(context.Background(), b))
	j.c.flush(context.Background())
	require.Equal(t, uint64(7), countOf(t, j.sink.AllMetrics()[0]))
	metadatatest.AssertEqualConnectorFineHistogramDuplicateRequests(t, j.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	// Journaled, then the process died before answering: the sender's resend after the restart
	// is recognised from the replayed journal.
	c := spanBatch(t, 5, 20)
	require.NoError(t, j.c.ConsumeTraces(context.Background(), c))
	crash()
	j2, crash2 := startJournaled(t, dir, nil)
	defer crash2()
	require.NoError(t, j2.c.ConsumeTraces(context.Background(), c))
	j2.c.flush(context.Background())
	require.Equal(t, uint64(5), countOf(t, j2.sink.AllMetrics()[0]))
}

func TestDedupWindowForgetsOldest(t *testing.T) {
	d := newDedupSet(2)
	d.add(1)
	d.add(2)
	require.True(t, d.contains(1))
	d.add(3)
	require.False(t, d.contains(1), "the oldest hash leaves the window")
	require.True(t, d.contains(2))
	require.True(t, d.contains(3))
	d.add(3)
	d.add(3)
	require.False(t, d.contains(2))
	require.True(t, d.contains(3))
	require.False(t, newDedupSet(0).contains(0))
}

// The set answers exactly "among the last n hashes added", whatever the repeats, and holds
// nothing up front.
func TestDedupWindowMatchesLastN(t *testing.T) {
	require.Zero(t, cap(newDedupSet(65536).ring), "no entries are held before requests are seen")
	for _, n := range []int{1, 3, 7} {
		d := newDedupSet(n)
		var added []uint64
		for i := range 200 {
			h := uint64((i * 7919) % 11) // repeats often, within and across windows
			d.add(h)
			added = append(added, h)
			window := added[max(0, len(added)-n):]
			for q := uint64(0); q < 11; q++ {
				require.Equal(t, slices.Contains(window, q), d.contains(q), "n=%d after %d adds, hash %d", n, i+1, q)
			}
		}
		require.LessOrEqual(t, len(d.set), n)
	}
}
