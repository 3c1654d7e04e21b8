package loki

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sieveobs/sieve/exporters/loki/internal/metadata"
)

// With Loki stuck, the default sending queue must fill up at its byte bound and then refuse
// data with a retryable error, instead of holding an ever larger number of requests.
func TestDefaultQueueIsBoundedInBytes(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = srv.URL + "/loki/api/v1/push"
	exp, err := createLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() {
		close(release)
		require.NoError(t, exp.Shutdown(context.Background()))
	}()

	var sizer plog.ProtoMarshaler
	var accepted int
	now := time.Now()
	for i := 0; ; i++ {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "svc")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for r := range 1000 {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i*1000+r) * time.Microsecond)))
			lr.Body().SetStr("request completed in a reasonable time")
			lr.Attributes().PutStr("record", strconv.Itoa(r))
		}
		size := sizer.LogsSize(ld)
		err := exp.ConsumeLogs(context.Background(), ld)
		if err != nil {
			require.False(t, consumererror.IsPermanent(err), "a full queue must be retryable for the sender: %v", err)
			break
		}
		accepted += size
		// Requests counted one by one, the old default held 1,000 of them.
		require.Less(t, accepted, 4*defaultQueueBytes, "the queue keeps accepting: it is not bounded in bytes")
	}
	// The queue holds its bound; the batcher and the stuck request hold at most two batches more.
	require.LessOrEqual(t, accepted, defaultQueueBytes+2*16384*100)
	require.Greater(t, accepted, defaultQueueBytes/2)
}
