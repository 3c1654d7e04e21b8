package backends

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
)

// LokiOptions configure a Loki server.
type LokiOptions struct {
	// AuthEnabled turns on multi-tenancy: every request must carry X-Scope-OrgID.
	AuthEnabled bool
}

// Loki is a running single-binary Loki with filesystem storage.
type Loki struct {
	// URL is the HTTP base address, e.g. http://127.0.0.1:43121.
	URL  string
	dir  string
	proc *harness.Process
}

// LokiBinary returns the Loki server binary: $SIEVE_LOKI_BIN, or the one testbed/scripts/install-loki.sh
// builds and caches by version (a few minutes the first time).
func LokiBinary() (string, error) { return lokiBin.get() }

var lokiBin = &builtBinary{env: "SIEVE_LOKI_BIN", script: "testbed/scripts/install-loki.sh"}

// NewLoki starts Loki and waits until it is ready. Close stops it and removes its data.
func NewLoki(ctx context.Context, opts LokiOptions) (*Loki, error) {
	bin, err := LokiBinary()
	if err != nil {
		return nil, err
	}
	dir, ports, err := workDir("sieve-loki-", 3)
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(lokiConfig, opts.AuthEnabled, ports[0], ports[1], dir, ports[2])
	if err := writeFile(filepath.Join(dir, "loki.yaml"), cfg); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	proc, err := startProcess("loki", dir, bin, "-config.file="+filepath.Join(dir, "loki.yaml"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	l := &Loki{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), dir: dir, proc: proc}
	if err := waitReady(ctx, proc, l.URL+"/ready", "ready"); err != nil {
		return nil, joinErr(err, l.Close())
	}
	return l, nil
}

// Close stops Loki and removes its directory.
func (l *Loki) Close() error {
	err := l.proc.Stop(stopGrace)
	return joinErr(err, os.RemoveAll(l.dir))
}

// PushURL is Loki's push API endpoint.
func (l *Loki) PushURL() string { return l.URL + "/loki/api/v1/push" }

// OTLPURL is the base of Loki's native OTLP endpoint (an otlphttp exporter appends /v1/logs).
func (l *Loki) OTLPURL() string { return l.URL + "/otlp" }

// LokiEntry is one log line read back from Loki.
type LokiEntry struct {
	Time     time.Time
	Line     string
	Metadata map[string]string // structured metadata
	Parsed   map[string]string // labels extracted by the query's parsers
}

// LokiStream is one stream of a query result.
type LokiStream struct {
	Labels  map[string]string
	Entries []LokiEntry
}

// QueryRange runs a LogQL log query over [start, end] and returns every matching entry (up to
// limit 5000 per call), oldest first. tenant may be empty when auth is off.
func (l *Loki) QueryRange(ctx context.Context, tenant, logql string, start, end time.Time) ([]LokiStream, error) {
	q := url.Values{}
	q.Set("query", logql)
	q.Set("start", strconv.FormatInt(start.UnixNano(), 10))
	q.Set("end", strconv.FormatInt(end.UnixNano(), 10))
	q.Set("limit", "5000")
	q.Set("direction", "forward")
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Stream map[string]string   `json:"stream"`
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := l.get(ctx, tenant, "/loki/api/v1/query_range", q, &resp); err != nil {
		return nil, err
	}
	if resp.Data.ResultType != "streams" {
		return nil, fmt.Errorf("loki: query %q returned %q, not streams", logql, resp.Data.ResultType)
	}
	out := make([]LokiStream, 0, len(resp.Data.Result))
	for _, r := range resp.Data.Result {
		s := LokiStream{Labels: r.Stream}
		for _, v := range r.Values {
			if len(v) < 2 {
				return nil, fmt.Errorf("loki: malformed value of %d elements", len(v))
			}
			var tsStr, line string
			if err := json.Unmarshal(v[0], &tsStr); err != nil {
				return nil, fmt.Errorf("loki: timestamp: %w", err)
			}
			if err := json.Unmarshal(v[1], &line); err != nil {
				return nil, fmt.Errorf("loki: line: %w", err)
			}
			ns, err := strconv.ParseInt(tsStr, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("loki: timestamp %q: %w", tsStr, err)
			}
			e := LokiEntry{Time: time.Unix(0, ns), Line: line}
			if len(v) > 2 {
				var cat struct {
					StructuredMetadata map[string]string `json:"structuredMetadata"`
					Parsed             map[string]string `json:"parsed"`
				}
				if err := json.Unmarshal(v[2], &cat); err != nil {
					return nil, fmt.Errorf("loki: categorized labels: %w", err)
				}
				e.Metadata, e.Parsed = cat.StructuredMetadata, cat.Parsed
			}
			s.Entries = append(s.Entries, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// QueryMetric runs an instant LogQL metric query (e.g. sum by (level) (count_over_time(...))).
func (l *Loki) QueryMetric(ctx context.Context, tenant, logql string, at time.Time) ([]Sample, error) {
	q := url.Values{}
	q.Set("query", logql)
	q.Set("time", strconv.FormatInt(at.UnixNano(), 10))
	var resp promResponse
	if err := l.get(ctx, tenant, "/loki/api/v1/query", q, &resp); err != nil {
		return nil, err
	}
	return resp.samples()
}

// LabelValues lists the values Loki holds for a label in [start, end].
func (l *Loki) LabelValues(ctx context.Context, tenant, label string, start, end time.Time) ([]string, error) {
	q := url.Values{}
	q.Set("start", strconv.FormatInt(start.UnixNano(), 10))
	q.Set("end", strconv.FormatInt(end.UnixNano(), 10))
	var resp struct {
		Data []string `json:"data"`
	}
	if err := l.get(ctx, tenant, "/loki/api/v1/label/"+url.PathEscape(label)+"/values", q, &resp); err != nil {
		return nil, err
	}
	return resp.Data, nil
}

func (l *Loki) get(ctx context.Context, tenant, path string, q url.Values, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	// Ask for structured metadata separately from stream labels.
	req.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
	return doJSON(req, into)
}

// lokiConfig: single binary, filesystem storage, loopback only, analytics off, ingestion limits
// raised so that load tests measure Sieve rather than Loki's defaults.
const lokiConfig = `auth_enabled: %t
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %d
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %d
  log_level: warn
  grpc_server_max_recv_msg_size: 104857600
  grpc_server_max_send_msg_size: 104857600
common:
  instance_addr: 127.0.0.1
  path_prefix: %[4]s
  storage:
    filesystem:
      chunks_directory: %[4]s/chunks
      rules_directory: %[4]s/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
memberlist:
  bind_addr: [127.0.0.1]
  bind_port: %[5]d
ingester:
  lifecycler:
    min_ready_duration: 0s
    final_sleep: 0s
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  allow_structured_metadata: true
  ingestion_rate_mb: 1024
  ingestion_burst_size_mb: 2048
  per_stream_rate_limit: 512MB
  per_stream_rate_limit_burst: 1024MB
  max_streams_per_user: 0
  max_global_streams_per_user: 0
  max_entries_limit_per_query: 100000
  reject_old_samples: true
  reject_old_samples_max_age: 168h
  volume_enabled: true
query_range:
  results_cache:
    cache:
      embedded_cache:
        enabled: false
pattern_ingester:
  enabled: false
analytics:
  reporting_enabled: false
`
