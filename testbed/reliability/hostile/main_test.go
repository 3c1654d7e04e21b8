package hostile

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/sieveobs/sieve/testbed/sieveproc"
	"github.com/sieveobs/sieve/testbed/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// long reports whether the bigger variants were asked for (make faults).
func long() bool { return os.Getenv("SIEVE_LONG") == "1" }

// pick returns the short or the long variant of a size.
func pick[T any](short, big T) T {
	if long() {
		return big
	}
	return short
}

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
	p := sieveproc.StartT(t, sieveproc.Options{Config: sieveproc.RepoPath("configs/gateway.yaml"), Env: all})
	return p, sink
}

// pidOf finds the process behind p: sieveproc does not expose it, but every Sieve it starts has
// its own OTLP HTTP address in its environment.
func pidOf(t *testing.T, p *sieveproc.Process) int {
	t.Helper()
	want := []byte("SIEVE_OTLP_HTTP_ENDPOINT=" + p.OTLPHTTP + "\x00")
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if err == nil && filepath.Base(exe) == "sieve" {
			return pid
		}
	}
	t.Fatalf("no sieve process with %s", want)
	return 0
}

// rssBytes reads the resident set size of a process.
func rssBytes(pid int) (int64, error) { return procStatusBytes(pid, "VmRSS:") }

// procStatusBytes reads one memory field (VmRSS:, VmHWM:, ...) of /proc/<pid>/status.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", field, pid)
}

// rssWatch samples a process's resident memory until stopped and keeps the peak: the peak is
// what an OOM killer would see, an end-of-test reading would miss it.
type rssWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak int64
	base int64
}

func watchRSS(t *testing.T, pid int) *rssWatch {
	t.Helper()
	base, err := rssBytes(pid)
	require.NoError(t, err)
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{}), peak: base, base: base}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			if v, err := rssBytes(pid); err == nil {
				w.mu.Lock()
				w.peak = max(w.peak, v)
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(w.Stop)
	return w
}

// Stop ends the sampling; it may be called more than once.
func (w *rssWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// Peak is the highest resident set size seen so far.
func (w *rssWatch) Peak() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// metricSum adds up the series of one metric on a Prometheus text endpoint whose labels contain
// every given fragment (e.g. `reason="value_budget"`).
func metricSum(t *testing.T, url, name string, fragments ...string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var sum float64
next:
	for _, line := range strings.Split(string(body), "\n") {
		// Counters may or may not carry the _total suffix, depending on the exporter's settings.
		matched := false
		for _, n := range []string{name, name + "_total"} {
			matched = matched || strings.HasPrefix(line, n+"{") || strings.HasPrefix(line, n+" ")
		}
		if !matched {
			continue
		}
		for _, f := range fragments {
			if !strings.Contains(line, f) {
				continue next
			}
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		require.NoError(t, err, line)
		sum += v
	}
	return sum
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
	raw, err := os.ReadFile(sieveproc.RepoPath(config))
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
