package hostile

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"

	samplingpolicy "github.com/sieveobs/sieve/extensions/samplingpolicy"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// testCA is a certificate authority made for one test run; no key is ever committed.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf for a server (127.0.0.1) or a client, returning PEM certificate and key.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (ca *testCA) clientCert(t *testing.T, name string) tls.Certificate {
	c, k := ca.issue(t, name, false)
	pair, err := tls.X509KeyPair(c, k)
	require.NoError(t, err)
	return pair
}

// tlsConfig is the policy endpoint secured with mutual TLS: only clients holding a certificate
// of the deployment's CA may read the policy.
const tlsConfig = `
extensions:
  health_check:
    endpoint: ${env:SIEVE_HEALTH_ENDPOINT}
  sampling_policy:
    file:
      path: ${env:SIEVE_POLICY_FILE}
    server:
      endpoint: ${env:SIEVE_SAMPLING_ENDPOINT}
      tls:
        cert_file: ${env:SIEVE_TEST_TLS_DIR}/server.crt
        key_file: ${env:SIEVE_TEST_TLS_DIR}/server.key
        client_ca_file: ${env:SIEVE_TEST_TLS_DIR}/ca.crt
        min_version: "1.2"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:SIEVE_OTLP_GRPC_ENDPOINT}
processors:
  trace_sampling:
    policy: sampling_policy
exporters:
  debug: {}
service:
  extensions: [health_check, sampling_policy]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [trace_sampling]
      exporters: [debug]
`

// TestPolicyEndpointMutualTLS runs bin/sieve with the policy endpoint behind mutual TLS and
// checks who gets the policy: a client certificate of the configured CA does; one from another
// CA, none at all, or plain HTTP do not.
func TestPolicyEndpointMutualTLS(t *testing.T) {
	dir := t.TempDir()
	trusted, rogue := newCA(t, "sieve-test-ca"), newCA(t, "rogue-ca")
	srvCert, srvKey := trusted.issue(t, "sieve", true)
	for name, content := range map[string][]byte{"ca.crt": trusted.pem, "server.crt": srvCert, "server.key": srvKey} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o600))
	}
	cfgPath := filepath.Join(dir, "sieve.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(tlsConfig), 0o600))
	sieve := sieveproc.StartT(t, sieveproc.Options{Config: cfgPath, Env: map[string]string{"SIEVE_TEST_TLS_DIR": dir}})
	httpsURL := strings.Replace(sieve.SamplingURL, "http://", "https://", 1) + "/policy"

	roots := x509.NewCertPool()
	roots.AddCert(trusted.cert)
	rogueRoots := x509.NewCertPool()
	rogueRoots.AddCert(rogue.cert)
	intruder := rogue.clientCert(t, "intruder")
	get := func(url string, cfg *tls.Config) (int, error) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer client.CloseIdleConnections()
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}

	tests := []struct {
		name     string
		url      string
		tls      *tls.Config
		wantCode int
		wantErr  *regexp.Regexp // the handshake failure as the client sees it
	}{
		{"client certificate of the trusted CA", httpsURL, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{trusted.clientCert(t, "sdk")}}, http.StatusOK, nil},
		// Presented whatever CAs the server asks for, as a hostile client would.
		{"client certificate of another CA", httpsURL, &tls.Config{RootCAs: roots, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruder, nil }}, 0, regexp.MustCompile(`tls: (unknown certificate authority|bad certificate)`)},
		{"no client certificate", httpsURL, &tls.Config{RootCAs: roots}, 0, regexp.MustCompile(`tls: (certificate required|bad certificate|handshake failure)`)},
		{"TLS 1.1 client", httpsURL, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, Certificates: []tls.Certificate{trusted.clientCert(t, "old")}}, 0, regexp.MustCompile(`tls: protocol version not supported`)},
		{"server not trusted by the client", httpsURL, &tls.Config{RootCAs: rogueRoots, Certificates: []tls.Certificate{trusted.clientCert(t, "sdk")}}, 0, regexp.MustCompile(`certificate signed by unknown authority`)},
		// Go's TLS server answers a plain HTTP request with a 400 and nothing else.
		{"plain HTTP", sieve.SamplingURL + "/policy", nil, http.StatusBadRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, err := get(tc.url, tc.tls)
			if tc.wantErr != nil {
				require.Error(t, err, "the request succeeded with status %d", code)
				require.Regexp(t, tc.wantErr, err.Error())
				t.Logf("refused: %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantCode, code)
		})
	}
	requireHealthy(t, sieve)
}

// tokenAuth is a bearer-token server authenticator: the role an authenticator extension plays
// when `server.auth` of sampling_policy names it.
type tokenAuth struct{ token string }

var errUnauthenticated = errors.New("missing or wrong bearer token")

func (tokenAuth) Start(context.Context, component.Host) error { return nil }
func (tokenAuth) Shutdown(context.Context) error              { return nil }

func (a tokenAuth) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	for _, v := range headers["Authorization"] {
		got, ok := strings.CutPrefix(v, "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) == 1 {
			return ctx, nil
		}
	}
	return ctx, errUnauthenticated
}

type authHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h authHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// TestPolicyEndpointBearerToken checks that the endpoint enforces `server.auth`: requests without
// the right bearer token get 401 and never the policy. The Sieve distribution ships no
// authenticator extension, so the extension runs in-process with one provided by the test host;
// TestPolicyEndpointAuthNeedsItsAuthenticator covers the distribution's side.
func TestPolicyEndpointBearerToken(t *testing.T) {
	const token = "s3cr3t-token"
	authID := component.MustNewID("bearer")
	f := samplingpolicy.NewFactory()
	cfg := f.CreateDefaultConfig().(*samplingpolicy.Config)
	cfg.File = configoptional.Some(samplingpolicy.FileConfig{Path: harness.RepoPath("configs/policy.yaml"), Debounce: 50 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg.Server.NetAddr.Endpoint = addr
	cfg.Server.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: authID}})
	require.NoError(t, cfg.Validate())

	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	host := authHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{authID: tokenAuth{token: token}}}
	require.NoError(t, ext.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })

	for _, tc := range []struct {
		name   string
		header string
		want   int
	}{
		{"right token", "Bearer " + token, http.StatusOK},
		{"wrong token", "Bearer guess", http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:4], http.StatusUnauthorized},
		{"no token", "", http.StatusUnauthorized},
		{"basic auth", "Basic " + token, http.StatusUnauthorized},
	} {
		for _, path := range []string{"/policy", "/sampling?service=checkout"} {
			t.Run(tc.name+path, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
				require.NoError(t, err)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err)
				require.Equal(t, tc.want, resp.StatusCode, string(body))
				if tc.want != http.StatusOK {
					require.NotContains(t, string(body), "shop-1", "the policy leaked to an unauthenticated client")
				}
			})
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestPolicyEndpointAuthNeedsItsAuthenticator: bin/sieve refuses to start when the policy
// endpoint names an authenticator that is not there, instead of serving without authentication.
func TestPolicyEndpointAuthNeedsItsAuthenticator(t *testing.T) {
	i := strings.Index(tlsConfig, "      tls:\n")
	j := strings.Index(tlsConfig, "receivers:\n")
	cfg := tlsConfig[:i] + "      auth:\n        authenticator: bearertokenauth\n" + tlsConfig[j:]
	path := filepath.Join(t.TempDir(), "auth.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	r := runSieve(t, nil, "--config", path)
	require.Error(t, r.err, "sieve started with an authenticator it does not have:\n%s", r.out)
	require.Contains(t, r.out, "bearertokenauth")
	t.Logf("refused: %s", lastLine(r.out))
}

// TestPolicyEndpointDefaultsToLoopback: unless an operator opens it on purpose, the policy
// endpoint listens on loopback only, in the extension's defaults and in every shipped
// configuration.
func TestPolicyEndpointDefaultsToLoopback(t *testing.T) {
	requireLoopback := func(t *testing.T, endpoint string) {
		host, _, err := net.SplitHostPort(endpoint)
		require.NoError(t, err, endpoint)
		addrs, err := net.LookupHost(host)
		require.NoError(t, err)
		for _, a := range addrs {
			require.True(t, net.ParseIP(a).IsLoopback(), "%s resolves to %s, not loopback", endpoint, a)
		}
	}
	def := samplingpolicy.NewFactory().CreateDefaultConfig().(*samplingpolicy.Config)
	requireLoopback(t, def.Server.NetAddr.Endpoint)

	defaultOf := regexp.MustCompile(`\$\{env:SIEVE_SAMPLING_ENDPOINT:-([^}]+)\}`)
	grpcDefaultOf := regexp.MustCompile(`\$\{env:SIEVE_SAMPLING_GRPC_ENDPOINT:-([^}]+)\}`)
	for _, name := range []string{"gateway.yaml", "demo.yaml", "agent.yaml"} {
		raw, err := os.ReadFile(harness.RepoPath("configs/" + name))
		require.NoError(t, err)
		if !strings.Contains(string(raw), "sampling_policy:") {
			continue
		}
		m := defaultOf.FindSubmatch(raw)
		require.NotNil(t, m, "%s: the sampling_policy endpoint must come from SIEVE_SAMPLING_ENDPOINT with a default", name)
		requireLoopback(t, string(m[1]))
		g := grpcDefaultOf.FindSubmatch(raw)
		require.NotNil(t, g, "%s: the gRPC sampling endpoint must come from SIEVE_SAMPLING_GRPC_ENDPOINT with a default", name)
		requireLoopback(t, string(g[1]))
		t.Logf("%s: policy endpoint defaults to %s, gRPC to %s", name, m[1], g[1])
	}

	// The process: with no server section at all, the endpoint is reachable on loopback and not
	// on the host's other addresses.
	ln, err := net.Listen("tcp", def.Server.NetAddr.Endpoint)
	if err != nil {
		t.Skipf("default endpoint %s is taken on this machine, cannot start a second one: %v", def.Server.NetAddr.Endpoint, err)
	}
	require.NoError(t, ln.Close())
	cfg := strings.Replace(strings.Replace(tlsConfig, "    server:\n      endpoint: ${env:SIEVE_SAMPLING_ENDPOINT}\n", "", 1),
		"      tls:\n        cert_file: ${env:SIEVE_TEST_TLS_DIR}/server.crt\n        key_file: ${env:SIEVE_TEST_TLS_DIR}/server.key\n        client_ca_file: ${env:SIEVE_TEST_TLS_DIR}/ca.crt\n        min_version: \"1.2\"\n", "", 1)
	require.NotContains(t, cfg, "server:")
	path := filepath.Join(t.TempDir(), "default.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	sieveproc.StartT(t, sieveproc.Options{Config: path})
	_, port, err := net.SplitHostPort(def.Server.NetAddr.Endpoint)
	require.NoError(t, err)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%s/policy", port))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	checked := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil {
			continue
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), port), 2*time.Second)
		if err == nil {
			c.Close()
		}
		require.Error(t, err, "the policy endpoint answers on %s", ipn.IP)
		checked++
	}
	t.Logf("default endpoint answers on loopback and refused on %d other local addresses", checked)
}
