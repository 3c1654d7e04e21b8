package otlp // import "github.com/sieveobs/sieve/receivers/otlp"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver"
	upstream "go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/xreceiver"

	"github.com/sieveobs/sieve/receivers/otlp/internal/metadata"
)

// NewFactory returns the factory of Sieve's otlp receiver. It takes the place of upstream's
// under the same type: without sample_before_decode every signal is served by upstream's
// receiver itself; with it, by Sieve's servers, which read requests as bytes first.
func NewFactory() receiver.Factory {
	return xreceiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xreceiver.WithTraces(createTraces, metadata.TracesStability),
		xreceiver.WithMetrics(createMetrics, metadata.MetricsStability),
		xreceiver.WithLogs(createLogs, metadata.LogsStability),
		xreceiver.WithProfiles(createProfiles, metadata.ProfilesStability),
	)
}

var upstreamFactory = upstream.NewFactory().(xreceiver.Factory)

func createDefaultConfig() component.Config {
	return &Config{Config: *upstreamFactory.CreateDefaultConfig().(*upstream.Config)}
}

func createTraces(ctx context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	c := cfg.(*Config)
	if !c.SampleBeforeDecode.enabled() {
		return upstreamFactory.CreateTraces(ctx, set, &c.Config, next)
	}
	r, err := receivers.loadOrStore(c, set)
	if err != nil {
		return nil, err
	}
	r.nextTraces = next
	return r, nil
}

func createMetrics(ctx context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c := cfg.(*Config)
	if !c.SampleBeforeDecode.enabled() {
		return upstreamFactory.CreateMetrics(ctx, set, &c.Config, next)
	}
	r, err := receivers.loadOrStore(c, set)
	if err != nil {
		return nil, err
	}
	r.nextMetrics = next
	return r, nil
}

func createLogs(ctx context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	c := cfg.(*Config)
	if !c.SampleBeforeDecode.enabled() {
		return upstreamFactory.CreateLogs(ctx, set, &c.Config, next)
	}
	r, err := receivers.loadOrStore(c, set)
	if err != nil {
		return nil, err
	}
	r.nextLogs = next
	return r, nil
}

func createProfiles(ctx context.Context, set receiver.Settings, cfg component.Config, next xconsumer.Profiles) (xreceiver.Profiles, error) {
	c := cfg.(*Config)
	if c.SampleBeforeDecode.enabled() {
		return nil, errors.New("sample_before_decode: profiles are served only by the receiver without sample_before_decode; use a second otlp receiver for them")
	}
	return upstreamFactory.CreateProfiles(ctx, set, &c.Config, next)
}
