package loadbalancing

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/internal/shutdownbound"
)

// bounded stops waiting for an exporter's shutdown at shutdown_timeout. exporterhelper drains
// the queue on shutdown with one more attempt per held batch, each up to protocol.otlp's timeout
// against a gateway that does not answer: three exporters in an agent could outlast a pod's
// grace period. The sends of contrib's exporters cannot be cancelled from outside, so the wait
// is abandoned instead; the deadline is shared with every exporter shut down alongside (see
// internal/shutdownbound). A persistent queue keeps the items not acknowledged, which the next
// start sends again.
type bounded struct {
	inner   component.Component
	bound   *shutdownbound.Bound
	logger  *zap.Logger
	outcome string
	// innerDone is closed when the inner exporter's shutdown returned, also after it was
	// abandoned.
	innerDone chan struct{}
}

func newBounded(set exporter.Settings, cfg *Config, inner component.Component) *bounded {
	q := cfg.QueueSettings
	outcome := shutdownbound.Outcome(q.HasValue(), q.HasValue() && q.Get().StorageID != nil, cfg.BackOffConfig.Enabled)
	b := &bounded{inner: inner, logger: set.Logger, outcome: outcome, innerDone: make(chan struct{})}
	if cfg.ShutdownTimeout > 0 {
		b.bound = shutdownbound.New(cfg.ShutdownTimeout, set.Logger, outcome, "items")
	}
	return b
}

func (b *bounded) start(ctx context.Context, host component.Host) error {
	if b.bound != nil {
		b.bound.Start()
	}
	return b.inner.Start(ctx, host)
}

func (b *bounded) shutdown(ctx context.Context) error {
	if b.bound == nil {
		defer close(b.innerDone)
		return b.inner.Shutdown(ctx)
	}
	return b.bound.Shutdown(ctx, func(ctx context.Context) error {
		bctx, cancel := b.bound.Context(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			defer close(b.innerDone)
			done <- b.inner.Shutdown(bctx)
		}()
		select {
		case err := <-done:
			return err
		case <-bctx.Done():
			b.logger.Warn("shutdown_timeout reached: stopped waiting for the sends in progress",
				zap.String("outcome", b.outcome))
			return nil
		}
	})
}

type boundedTraces struct {
	exporter.Traces
	b *bounded
}

func (e *boundedTraces) Start(ctx context.Context, host component.Host) error {
	return e.b.start(ctx, host)
}
func (e *boundedTraces) Shutdown(ctx context.Context) error { return e.b.shutdown(ctx) }

type boundedMetrics struct {
	exporter.Metrics
	b *bounded
}

func (e *boundedMetrics) Start(ctx context.Context, host component.Host) error {
	return e.b.start(ctx, host)
}
func (e *boundedMetrics) Shutdown(ctx context.Context) error { return e.b.shutdown(ctx) }

type boundedLogs struct {
	exporter.Logs
	b *bounded
}

func (e *boundedLogs) Start(ctx context.Context, host component.Host) error {
	return e.b.start(ctx, host)
}
func (e *boundedLogs) Shutdown(ctx context.Context) error { return e.b.shutdown(ctx) }
