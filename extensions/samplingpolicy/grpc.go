package samplingpolicy

import (
	"context"
	"errors"

	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// samplingManager serves Jaeger's api_v2 SamplingManager over gRPC, the remote sampling API of
// SDKs that fetch their strategy from a Jaeger collector's gRPC port (OTel Java's and others'
// Jaeger remote samplers), with the same strategies as GET /sampling.
type samplingManager struct {
	e *policyExtension
}

var _ api_v2.SamplingManagerServer = samplingManager{}

func (s samplingManager) GetSamplingStrategy(_ context.Context, p *api_v2.SamplingStrategyParameters) (*api_v2.SamplingStrategyResponse, error) {
	if p.GetServiceName() == "" {
		return nil, status.Error(codes.InvalidArgument, "service_name is required")
	}
	return toProto(strategyFor(s.e.engine.Load(), p.GetServiceName())), nil
}

// toProto converts the strategy GET /sampling serves into Jaeger's protobuf message.
func toProto(r strategyResponse) *api_v2.SamplingStrategyResponse {
	out := &api_v2.SamplingStrategyResponse{StrategyType: api_v2.SamplingStrategyType_PROBABILISTIC}
	if r.ProbabilisticSampling != nil {
		out.ProbabilisticSampling = &api_v2.ProbabilisticSamplingStrategy{SamplingRate: r.ProbabilisticSampling.SamplingRate}
	}
	if o := r.OperationSampling; o != nil {
		per := &api_v2.PerOperationSamplingStrategies{
			DefaultSamplingProbability:       o.DefaultSamplingProbability,
			DefaultLowerBoundTracesPerSecond: o.DefaultLowerBoundTracesPerSecond,
		}
		for _, op := range o.PerOperationStrategies {
			per.PerOperationStrategies = append(per.PerOperationStrategies, &api_v2.OperationSamplingStrategy{
				Operation:             op.Operation,
				ProbabilisticSampling: &api_v2.ProbabilisticSamplingStrategy{SamplingRate: op.ProbabilisticSampling.SamplingRate},
			})
		}
		out.OperationSampling = per
	}
	return out
}

// startGRPC starts the gRPC server when grpc is configured; authenticators and TLS come from
// configgrpc like any collector server's.
func (e *policyExtension) startGRPC(ctx context.Context, host component.Host) error {
	cfg := e.cfg.GRPC.Get()
	if cfg == nil {
		return nil
	}
	ln, err := cfg.NetAddr.Listen(ctx)
	if err != nil {
		return err
	}
	srv, err := cfg.ToServer(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	api_v2.RegisterSamplingManagerServer(srv, samplingManager{e})
	e.grpcAddr = ln.Addr().String()
	e.grpcServer = srv
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if serr := srv.Serve(ln); serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
			e.set.Logger.Error("Sampling gRPC server stopped", zap.Error(serr))
		}
	}()
	return nil
}
