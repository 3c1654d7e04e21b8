package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/sieveobs/sieve/testbed/backends"
)

// seededIDs makes the SDK's trace and span IDs reproducible from run to run.
type seededIDs struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func (g *seededIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(tid[8:], g.rng.Uint64())
	return tid, g.spanID()
}

func (g *seededIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.spanID()
}

func (g *seededIDs) spanID() trace.SpanID {
	var sid trace.SpanID
	for sid == (trace.SpanID{}) {
		binary.BigEndian.PutUint64(sid[:], g.rng.Uint64())
	}
	return sid
}

// sentSpan is what the test sent of one span.
type sentSpan struct {
	service, name, parent string
	err                   bool
}

// startBackendsInParallel starts Jaeger, Loki and Prometheus at once (Loki is the slowest) and
// stops them at the test's cleanup.
func startBackendsInParallel(t *testing.T, jaeger **backends.Jaeger, loki **backends.Loki, prom **backends.Prometheus) {
	t.Helper()
	var wg sync.WaitGroup
	var jErr, lErr, pErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		*jaeger, jErr = backends.NewJaeger(context.Background(), backends.JaegerOptions{})
	}()
	go func() {
		defer wg.Done()
		*loki, lErr = backends.NewLoki(context.Background(), backends.LokiOptions{})
	}()
	go func() {
		defer wg.Done()
		*prom, pErr = backends.NewPrometheus(context.Background(), backends.PrometheusOptions{})
	}()
	wg.Wait()
	t.Cleanup(func() {
		var errs []error
		if *jaeger != nil {
			errs = append(errs, (*jaeger).Close())
		}
		if *loki != nil {
			errs = append(errs, (*loki).Close())
		}
		if *prom != nil {
			errs = append(errs, (*prom).Close())
		}
		if err := errors.Join(errs...); err != nil {
			t.Errorf("stop backends: %v", err)
		}
	})
	require.NoError(t, errors.Join(jErr, lErr, pErr))
}
