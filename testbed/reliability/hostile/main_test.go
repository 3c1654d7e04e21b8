package hostile

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
	"github.com/sieveobs/sieve/testbed/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mib = 1 << 20

// startGateway runs the shipped gateway configuration with every exporter pointed at a counting
// sink, so that only the receivers and the pipelines are under test.
func startGateway(t *testing.T, env map[string]string) (*sieveproc.Process, *sinks.Sink) {
	t.Helper()
	sink, err := sinks.Start()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sink.Close()) })
	all := map[string]string{
		"SIEVE_LOKI_PUSH_URL":     sink.HTTPURL + "/loki/api/v1/push",
		"SIEVE_PROMETHEUS_RW_URL": sink.HTTPURL + "/api/v1/write",
	}
	for k, v := range env {
		all[k] = v
	}
	p := sieveproc.StartT(t, sieveproc.Options{Config: harness.RepoPath("configs/gateway.yaml"), Env: all})
	return p, sink
}

// watchRSS samples Sieve's resident memory every 20 ms until the test ends: the peak is what an
// OOM killer would see, an end-of-test reading would miss it.
func watchRSS(t *testing.T, pid int) *harness.PeakWatcher {
	t.Helper()
	w, err := harness.WatchPeak(pid, "VmRSS", 20*time.Millisecond)
	t.Cleanup(func() { w.Stop() })
	require.NoError(t, err)
	return w
}

// requireHealthy checks that Sieve is still running and its health check answers 200.
func requireHealthy(t *testing.T, p *sieveproc.Process) {
	t.Helper()
	require.False(t, p.Exited(), "sieve exited:\n%s", p.LogTail(40))
	resp, err := http.Get(p.HealthURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// receiverLimits are the OTLP receiver settings of a shipped configuration, read from the file
// so that the tests check what is shipped and follow it when it changes.
type receiverLimits struct {
	GRPCMaxRecvMiB    int
	HTTPMaxBody       int64
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
}

func shippedReceiverLimits(t *testing.T, config string) receiverLimits {
	t.Helper()
	raw, err := os.ReadFile(harness.RepoPath(config))
	require.NoError(t, err)
	var doc struct {
		Receivers struct {
			OTLP struct {
				Protocols struct {
					GRPC struct {
						MaxRecvMsgSizeMiB int `yaml:"max_recv_msg_size_mib"`
					} `yaml:"grpc"`
					HTTP struct {
						MaxRequestBodySize int64  `yaml:"max_request_body_size"`
						ReadHeaderTimeout  string `yaml:"read_header_timeout"`
						ReadTimeout        string `yaml:"read_timeout"`
					} `yaml:"http"`
				} `yaml:"protocols"`
			} `yaml:"otlp"`
		} `yaml:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	p := doc.Receivers.OTLP.Protocols
	l := receiverLimits{GRPCMaxRecvMiB: p.GRPC.MaxRecvMsgSizeMiB, HTTPMaxBody: p.HTTP.MaxRequestBodySize}
	require.NotZero(t, l.GRPCMaxRecvMiB, "%s: receivers::otlp::protocols::grpc::max_recv_msg_size_mib must be explicit", config)
	require.NotZero(t, l.HTTPMaxBody, "%s: receivers::otlp::protocols::http::max_request_body_size must be explicit", config)
	l.ReadHeaderTimeout, err = time.ParseDuration(p.HTTP.ReadHeaderTimeout)
	require.NoError(t, err, "%s: receivers::otlp::protocols::http::read_header_timeout must be explicit", config)
	l.ReadTimeout, err = time.ParseDuration(p.HTTP.ReadTimeout)
	require.NoError(t, err, "%s: receivers::otlp::protocols::http::read_timeout must be explicit", config)
	return l
}

func TestShippedConfigsSetReceiverLimits(t *testing.T) {
	for _, config := range []string{"configs/gateway.yaml", "configs/agent.yaml", "configs/demo.yaml"} {
		t.Run(filepath.Base(config), func(t *testing.T) {
			l := shippedReceiverLimits(t, config)
			// A body larger than a gRPC message could not be forwarded by an agent's gRPC
			// exporter to a gateway, and a header timeout at or above the body timeout would
			// let slow headers hold a connection for the whole body budget.
			require.LessOrEqual(t, l.HTTPMaxBody, int64(l.GRPCMaxRecvMiB)*mib)
			require.Less(t, l.ReadHeaderTimeout, l.ReadTimeout)
			t.Logf("%s: grpc max_recv_msg_size_mib %d, http max_request_body_size %d, read_header_timeout %v, read_timeout %v",
				config, l.GRPCMaxRecvMiB, l.HTTPMaxBody, l.ReadHeaderTimeout, l.ReadTimeout)
		})
	}
}
