package samplingpolicy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

// Config of the sampling_policy extension. At most one source may be set; with none, the
// extension serves a static policy of fallback_rate.
type Config struct {
	// File reads the policy from a local file and applies every change to it.
	File configoptional.Optional[FileConfig] `mapstructure:"file"`
	// HTTP polls the policy from an HTTP(S) URL.
	HTTP configoptional.Optional[HTTPConfig] `mapstructure:"http"`
	// Etcd watches the policy under an etcd key.
	Etcd configoptional.Optional[EtcdConfig] `mapstructure:"etcd"`
	// Server serves GET /sampling (Jaeger remote sampling) and GET /policy.
	Server confighttp.ServerConfig `mapstructure:"server"`
	// GRPC serves Jaeger's api_v2 SamplingManager (the remote sampling API over gRPC) when set.
	GRPC configoptional.Optional[configgrpc.ServerConfig] `mapstructure:"grpc"`
	// FallbackRate is the keep probability served until a source delivers a valid policy.
	FallbackRate float64 `mapstructure:"fallback_rate"`
	// AdaptiveWindow is the window over which adaptive rules measure each service.
	AdaptiveWindow time.Duration `mapstructure:"adaptive_window"`
	// InitialTimeout bounds the first fetch from a remote source at start.
	InitialTimeout time.Duration `mapstructure:"initial_timeout"`

	_ struct{}
}

// FileConfig is the file source.
type FileConfig struct {
	// Path of the policy file (Sieve YAML/JSON or a Jaeger strategies file).
	Path string `mapstructure:"path"`
	// Debounce waits for writes to settle before reading the file.
	Debounce time.Duration `mapstructure:"debounce"`

	_ struct{}
}

// HTTPConfig is the HTTP(S) source.
type HTTPConfig struct {
	// ClientConfig holds endpoint (the policy URL), TLS, timeout and headers.
	confighttp.ClientConfig `mapstructure:",squash"`
	// Interval between polls; each poll sends If-None-Match with the last ETag.
	Interval time.Duration `mapstructure:"interval"`
	// BearerToken is sent as "Authorization: Bearer <token>" when set: shorthand for an auth
	// authenticator such as contrib's bearertokenauth, which is configured like any client's.
	BearerToken configopaque.String `mapstructure:"bearer_token"`

	_ struct{}
}

// EtcdConfig is the etcd source.
type EtcdConfig struct {
	// Endpoints of the etcd cluster, e.g. http://etcd:2379.
	Endpoints []string `mapstructure:"endpoints"`
	// Key holding the policy document.
	Key string `mapstructure:"key"`
	// DialTimeout bounds each connection attempt.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	// Username and Password enable etcd authentication.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// TLS for https endpoints.
	TLS configoptional.Optional[configtls.ClientConfig] `mapstructure:"tls"`
	// MaxBackoff caps the wait between reconnection attempts after etcd becomes unreachable.
	MaxBackoff time.Duration `mapstructure:"max_backoff"`

	_ struct{}
}

// Validate checks the configuration; it never fills in defaults.
func (c *Config) Validate() error {
	n := 0
	for _, has := range []bool{c.File.HasValue(), c.HTTP.HasValue(), c.Etcd.HasValue()} {
		if has {
			n++
		}
	}
	if n > 1 {
		return errors.New("file, http, etcd: set at most one policy source")
	}
	if !policyfile.ValidRate(c.FallbackRate) {
		return fmt.Errorf("fallback_rate: %v must be 0 or within [2^-56, 1]", c.FallbackRate)
	}
	if c.AdaptiveWindow < 100*time.Millisecond {
		return fmt.Errorf("adaptive_window: %v is below 100ms", c.AdaptiveWindow)
	}
	if c.InitialTimeout <= 0 {
		return fmt.Errorf("initial_timeout: %v must be positive", c.InitialTimeout)
	}
	if f := c.File.Get(); f != nil {
		if f.Path == "" {
			return errors.New("file.path: required")
		}
		if f.Debounce < 0 || f.Debounce > 10*time.Second {
			return fmt.Errorf("file.debounce: %v must be within [0, 10s]", f.Debounce)
		}
	}
	if h := c.HTTP.Get(); h != nil {
		u, err := url.Parse(h.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("http.endpoint: %q must be an http or https URL", h.Endpoint)
		}
		if h.Interval < 100*time.Millisecond {
			return fmt.Errorf("http.interval: %v is below 100ms", h.Interval)
		}
		if h.BearerToken != "" && h.Auth.HasValue() {
			return errors.New("http.bearer_token: set either bearer_token or auth (an authenticator such as bearertokenauth), not both")
		}
		if h.BearerToken != "" && u.Scheme != "https" && !isLoopback(u.Hostname()) {
			return errors.New("http.bearer_token: refusing to send a token over plain http to a non-loopback host")
		}
	}
	if e := c.Etcd.Get(); e != nil {
		if len(e.Endpoints) == 0 {
			return errors.New("etcd.endpoints: required")
		}
		for i, ep := range e.Endpoints {
			u, err := url.Parse(ep)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("etcd.endpoints[%d]: %q must be an http or https URL", i, ep)
			}
		}
		if e.Key == "" {
			return errors.New("etcd.key: required")
		}
		if e.DialTimeout <= 0 {
			return fmt.Errorf("etcd.dial_timeout: %v must be positive", e.DialTimeout)
		}
		if e.MaxBackoff < 10*time.Millisecond {
			return fmt.Errorf("etcd.max_backoff: %v is below 10ms", e.MaxBackoff)
		}
		if (e.Username == "") != (e.Password == "") {
			return errors.New("etcd.username, etcd.password: set both or neither")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
