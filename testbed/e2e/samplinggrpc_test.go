package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestGatewayServesSamplingOverGRPC asks the shipped gateway for strategies with the gRPC client
// generated from Jaeger's published protobuf definitions, as an SDK's Jaeger remote sampler
// speaking gRPC does: it gets configs/policy.yaml's rates, per service and per operation.
func TestGatewayServesSamplingOverGRPC(t *testing.T) {
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env:    map[string]string{"SIEVE_TRACES_EXPORTER": "debug/traces"},
	})
	conn, err := grpc.NewClient(sieve.SamplingGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := api_v2.NewSamplingManagerClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	got, err := client.GetSamplingStrategy(ctx, &api_v2.SamplingStrategyParameters{ServiceName: "checkout"})
	require.NoError(t, err)
	require.Equal(t, api_v2.SamplingStrategyType_PROBABILISTIC, got.StrategyType)
	require.InDelta(t, 0.05, got.ProbabilisticSampling.SamplingRate, 0, "configs/policy.yaml: checkout's rate")
	ops := map[string]float64{}
	for _, op := range got.OperationSampling.PerOperationStrategies {
		ops[op.Operation] = op.ProbabilisticSampling.SamplingRate
	}
	require.InDelta(t, 0.1, ops["POST /checkout"], 0, "configs/policy.yaml: POST /checkout's rate")
	require.InDelta(t, 0.0, ops["GET /healthz"], 0, "the never rule on GET /healthz is served as rate 0")

	other, err := client.GetSamplingStrategy(ctx, &api_v2.SamplingStrategyParameters{ServiceName: "unknown"})
	require.NoError(t, err)
	require.InDelta(t, 0.01, other.ProbabilisticSampling.SamplingRate, 0, "the default rate")
}
