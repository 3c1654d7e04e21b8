package prometheusremotewrite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// With the endpoint stuck, the default sending queue must fill up at its byte bound and then
// refuse data with a retryable error, instead of holding an ever larger number of batches.
func TestDefaultQueueIsBoundedInBytes(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Header().Set(headerSamplesWritten, "1")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL + "/api/v1/write"
	exp, err := newMetricsExporter(context.Background(), exportertest.NewNopSettings(component.MustNewType(typeStr)), cfg, time.Now)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() {
		close(release)
		require.NoError(t, exp.Shutdown(context.Background()))
	}()

	var sizer pmetric.ProtoMarshaler
	var accepted int
	for i := 0; ; i++ {
		md := pmetric.NewMetrics()
		sm := newResource(md, "svc", "i-1")
		m := sm.Metrics().AppendEmpty()
		m.SetName("g")
		g := m.SetEmptyGauge()
		for p := range 1000 {
			dp := g.DataPoints().AppendEmpty()
			dp.SetTimestamp(tsAt(i))
			dp.SetDoubleValue(float64(p))
			dp.Attributes().PutStr("point", strconv.Itoa(p))
		}
		size := sizer.MetricsSize(md)
		err := exp.ConsumeMetrics(context.Background(), md)
		if err != nil {
			require.False(t, consumererror.IsPermanent(err), "a full queue must be retryable for the sender: %v", err)
			break
		}
		accepted += size
		// Requests counted one by one, the old default held 10,000 of them.
		require.Less(t, accepted, 4*defaultQueueBytes, "the queue keeps accepting: it is not bounded in bytes")
	}
	// The queue holds its bound; the batcher and the stuck request hold at most two batches more.
	require.LessOrEqual(t, accepted, defaultQueueBytes+2*16384*100)
	require.Greater(t, accepted, defaultQueueBytes/2)
}
