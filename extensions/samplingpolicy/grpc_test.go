package samplingpolicy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/basicauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type extHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.ext }

func startPolicyWithGRPC(t *testing.T, host component.Host, mod func(*Config)) *policyExtension {
	cfg := testConfig()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(policyV1), 0o600))
	cfg.File = configoptional.Some(FileConfig{Path: path, Debounce: time.Millisecond})
	require.Nil(t, cfg.GRPC.Get(), "the gRPC API is off unless configured")
	srv := configgrpc.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.GRPC = configoptional.Some(srv)
	if mod != nil {
		mod(cfg)
	}
	require.NoError(t, cfg.Validate())
	e, _ := newTestExtension(t, cfg)
	require.NoError(t, e.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	return e
}

func samplingClient(t *testing.T, addr string) api_v2.SamplingManagerClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	return api_v2.NewSamplingManagerClient(conn)
}

// Jaeger's generated gRPC client gets the strategies GET /sampling serves, field for field.
func TestGRPCSamplingMatchesHTTP(t *testing.T) {
	e := startPolicyWithGRPC(t, componenttest.NewNopHost(), nil)
	client := samplingClient(t, e.grpcAddr)
	for _, svc := range []string{"checkout", "web"} {
		got, err := client.GetSamplingStrategy(context.Background(), &api_v2.SamplingStrategyParameters{ServiceName: svc})
		require.NoError(t, err)
		code, body := get(t, "http://"+e.addr+"/sampling?service="+svc)
		require.Equal(t, http.StatusOK, code)
		var want strategyResponse
		require.NoError(t, json.Unmarshal(body, &want))
		require.Equal(t, api_v2.SamplingStrategyType_PROBABILISTIC, got.StrategyType)
		require.Equal(t, want.ProbabilisticSampling.SamplingRate, got.ProbabilisticSampling.SamplingRate)
		require.Equal(t, want.OperationSampling.DefaultSamplingProbability, got.OperationSampling.DefaultSamplingProbability)
		require.Len(t, got.OperationSampling.PerOperationStrategies, len(want.OperationSampling.PerOperationStrategies))
		for i, op := range want.OperationSampling.PerOperationStrategies {
			g := got.OperationSampling.PerOperationStrategies[i]
			require.Equal(t, op.Operation, g.Operation)
			require.Equal(t, op.ProbabilisticSampling.SamplingRate, g.ProbabilisticSampling.SamplingRate)
		}
	}
	got, err := client.GetSamplingStrategy(context.Background(), &api_v2.SamplingStrategyParameters{ServiceName: "checkout"})
	require.NoError(t, err)
	require.InDelta(t, 0.5, got.ProbabilisticSampling.SamplingRate, 0)

	_, err = client.GetSamplingStrategy(context.Background(), &api_v2.SamplingStrategyParameters{})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
}

func startAuth(t *testing.T, f extension.Factory, cfg component.Config) extension.Extension {
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext
}

// The servers take contrib's authenticators like any collector server: bearertokenauth on the
// gRPC API, basicauth on the HTTP API.
func TestSamplingServersWithAuthenticators(t *testing.T) {
	bf := bearertokenauthextension.NewFactory()
	bcfg := bf.CreateDefaultConfig().(*bearertokenauthextension.Config)
	bcfg.BearerToken = "s3cret"
	hf := basicauthextension.NewFactory()
	hcfg := hf.CreateDefaultConfig().(*basicauthextension.Config)
	hcfg.Htpasswd = &basicauthextension.HtpasswdSettings{Inline: "sdk:pa55"}
	bearerID, basicID := component.MustNewID("bearertokenauth"), component.MustNewID("basicauth")
	host := extHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{
		bearerID: startAuth(t, bf, bcfg),
		basicID:  startAuth(t, hf, hcfg),
	}}
	e := startPolicyWithGRPC(t, host, func(c *Config) {
		g := c.GRPC.Get()
		g.Auth = configoptional.Some(configauth.Config{AuthenticatorID: bearerID})
		c.Server.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: basicID}})
	})

	client := samplingClient(t, e.grpcAddr)
	params := &api_v2.SamplingStrategyParameters{ServiceName: "checkout"}
	_, err := client.GetSamplingStrategy(context.Background(), params)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "no token")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer wrong")
	_, err = client.GetSamplingStrategy(ctx, params)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "wrong token")
	ctx = metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer s3cret")
	got, err := client.GetSamplingStrategy(ctx, params)
	require.NoError(t, err)
	require.InDelta(t, 0.5, got.ProbabilisticSampling.SamplingRate, 0)

	url := "http://" + e.addr + "/sampling?service=checkout"
	code, _ := get(t, url)
	require.Equal(t, http.StatusUnauthorized, code, "no credentials")
	req, err := http.NewRequest(http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("sdk:pa55")))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// The HTTP source authenticates with contrib's bearertokenauth like any collector client;
// http.bearer_token is the shorthand for the same header.
func TestHTTPSourceWithBearerTokenAuthenticator(t *testing.T) {
	srv := &etagServer{body: policyV1}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	bf := bearertokenauthextension.NewFactory()
	bcfg := bf.CreateDefaultConfig().(*bearertokenauthextension.Config)
	bcfg.BearerToken = "s3cret"
	id := component.MustNewIDWithName("bearertokenauth", "policy")
	host := extHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{id: startAuth(t, bf, bcfg)}}
	cfg := testConfig()
	h := cfg.HTTP.GetOrInsertDefault()
	h.Endpoint = ts.URL
	h.Auth = configoptional.Some(configauth.Config{AuthenticatorID: id})
	require.NoError(t, cfg.Validate())
	e, _ := newTestExtension(t, cfg)
	require.NoError(t, e.Start(context.Background(), host))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	require.Equal(t, "v1", e.engine.Load().Version)
	require.Zero(t, srv.badToken.Load())

	h.BearerToken = "s3cret"
	require.ErrorContains(t, cfg.Validate(), "http.bearer_token: set either bearer_token or auth")
}
