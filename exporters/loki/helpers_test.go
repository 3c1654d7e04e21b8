package loki

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sieveobs/sieve/exporters/loki/internal/metadatatest"
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// manualClock is a clock tests move by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "http://localhost:3100/loki/api/v1/push"
	return cfg
}

func metadataSettings(t *testing.T) (exporter.Settings, *componenttest.Telemetry) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	return metadatatest.NewSettings(tt), tt
}

// connectionFailures reads requests_failed{reason=connection} so tests can
// wait for the backend to have really been unreachable, instead of sleeping.
func connectionFailures(tt *componenttest.Telemetry) int64 {
	m, err := tt.GetMetric("otelcol_exporter_loki_requests_failed")
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		return 0
	}
	var n int64
	for _, dp := range sum.DataPoints {
		if v, ok := dp.Attributes.Value("reason"); ok && v.AsString() == failConnection {
			n += dp.Value
		}
	}
	return n
}

// decodeBatch reads tb back with Loki's own types: what Loki will see.
func decodeBatch(t testing.TB, tb *tenantBatch) push.PushRequest {
	var req push.PushRequest
	require.NoError(t, req.Unmarshal(tb.appendProto(nil)))
	return req
}
