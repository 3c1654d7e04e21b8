package samplingpolicy

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"

	"github.com/sieveobs/sieve/extensions/samplingpolicy/internal/metadata"
)

// DefaultEndpoint is Jaeger's remote sampling port on loopback: reachable by local SDKs only
// unless the operator opens it on purpose.
const DefaultEndpoint = "localhost:5778"

// DefaultGRPCEndpoint is the port of a Jaeger collector's gRPC API, where SDKs' Jaeger remote
// samplers look for the SamplingManager, on loopback.
const DefaultGRPCEndpoint = "localhost:14250"

// NewFactory returns the sampling_policy extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = DefaultEndpoint
	grpcServer := configgrpc.NewDefaultServerConfig()
	grpcServer.NetAddr.Endpoint = DefaultGRPCEndpoint
	http := HTTPConfig{ClientConfig: confighttp.NewDefaultClientConfig(), Interval: 30 * time.Second}
	http.Timeout = 10 * time.Second
	return &Config{
		File:           configoptional.Default(FileConfig{Debounce: 50 * time.Millisecond}),
		HTTP:           configoptional.Default(http),
		Etcd:           configoptional.Default(EtcdConfig{DialTimeout: 5 * time.Second, MaxBackoff: 2 * time.Second}),
		Server:         server,
		GRPC:           configoptional.Default(grpcServer),
		FallbackRate:   1,
		AdaptiveWindow: 10 * time.Second,
		InitialTimeout: 5 * time.Second,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(set, cfg.(*Config))
}
