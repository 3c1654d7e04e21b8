package gomemlimit

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/extensions/gomemlimit/internal/metadata"
)

type limiter struct {
	cfg       *Config
	logger    *zap.Logger
	provider  memlimit.Provider
	telemetry *metadata.TelemetryBuilder

	previous int64 // the limit before Start, restored at Shutdown
	started  bool
	cancel   context.CancelFunc
}

func newLimiter(set extension.Settings, cfg *Config, provider memlimit.Provider) (*limiter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &limiter{cfg: cfg, logger: set.Logger, provider: provider, telemetry: tb}, nil
}

func (l *limiter) Start(context.Context, component.Host) error {
	l.previous = debug.SetMemoryLimit(-1)
	l.started = true
	if err := l.telemetry.RegisterGoMemoryLimitCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(debug.SetMemoryLimit(-1))
		return nil
	}); err != nil {
		return err
	}
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		l.logger.Info("GOMEMLIMIT is set in the environment; leaving it as it is", zap.String("GOMEMLIMIT", v))
		return nil
	}
	opts := []memlimit.Option{memlimit.WithRatio(l.cfg.Ratio), memlimit.WithProvider(l.provider)}
	if l.cfg.RefreshInterval > 0 {
		// Not the Start context: it ends when Start returns, the refresh must run until Shutdown.
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		opts = append(opts, memlimit.WithRefreshInterval(ctx, l.cfg.RefreshInterval))
	}
	limit, err := memlimit.Set(opts...)
	if err != nil {
		// Running without a derived limit is safe (the Go default); refusing to start is not.
		l.logger.Warn("could not derive GOMEMLIMIT from the memory limit; keeping the current one", zap.Error(err))
		return nil
	}
	l.logger.Info("GOMEMLIMIT set from the memory limit", zap.Int64("bytes", limit), zap.Float64("ratio", l.cfg.Ratio))
	return nil
}

func (l *limiter) Shutdown(context.Context) error {
	if l.cancel != nil {
		l.cancel()
	}
	if l.started {
		debug.SetMemoryLimit(l.previous)
	}
	l.telemetry.Shutdown()
	return nil
}
