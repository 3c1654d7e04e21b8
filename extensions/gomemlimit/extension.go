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

// gcRuntime is what the extension reads and changes of the process: the environment and the
// runtime's GOGC. Tests replace it so they neither depend on the test process's environment nor
// change its collector.
type gcRuntime interface {
	LookupEnv(key string) (string, bool)
	// SetGCPercent is debug.SetGCPercent: it returns the previous setting.
	SetGCPercent(percent int) int
}

type runtimeGC struct{}

func (runtimeGC) LookupEnv(key string) (string, bool) { return os.LookupEnv(key) }
func (runtimeGC) SetGCPercent(percent int) int        { return debug.SetGCPercent(percent) }

type limiter struct {
	cfg       *Config
	logger    *zap.Logger
	provider  memlimit.Provider
	rt        gcRuntime
	telemetry *metadata.TelemetryBuilder

	previous   int64 // the limit before Start, restored at Shutdown
	started    bool
	previousGC int  // GOGC before Start, restored at Shutdown when gcSet
	gcSet      bool // whether the extension changed GOGC
	cancel     context.CancelFunc
}

func newLimiter(set extension.Settings, cfg *Config, provider memlimit.Provider, rt gcRuntime) (*limiter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &limiter{cfg: cfg, logger: set.Logger, provider: provider, rt: rt, telemetry: tb}, nil
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
	if v, ok := l.rt.LookupEnv("GOMEMLIMIT"); ok {
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
	l.raiseGCPercent()
	return nil
}

// raiseGCPercent sets gc_percent as GOGC. It is only called once the extension has set a memory
// limit: without one, a higher GOGC would let the heap grow unbounded. A GOGC chosen by the user
// in the environment is kept, whatever its value.
func (l *limiter) raiseGCPercent() {
	if l.cfg.GCPercent == 0 {
		return
	}
	if v, ok := l.rt.LookupEnv("GOGC"); ok {
		l.logger.Info("GOGC is set in the environment; leaving it as it is", zap.String("GOGC", v))
		return
	}
	l.previousGC = l.rt.SetGCPercent(l.cfg.GCPercent)
	l.gcSet = true
	l.logger.Info("GOGC raised under the memory limit", zap.Int("gogc", l.cfg.GCPercent))
}

func (l *limiter) Shutdown(context.Context) error {
	if l.cancel != nil {
		l.cancel()
	}
	if l.started {
		debug.SetMemoryLimit(l.previous)
	}
	if l.gcSet {
		l.rt.SetGCPercent(l.previousGC)
		l.gcSet = false
	}
	l.telemetry.Shutdown()
	return nil
}
