package backends

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
)

// JaegerOptions configure a Jaeger server.
type JaegerOptions struct {
	// MaxTraces bounds the in-memory store (oldest traces evicted first); 0 means 100,000.
	MaxTraces int
}

// Jaeger is a running Jaeger v2 (an OpenTelemetry Collector distribution) with in-memory storage:
// an OTLP/gRPC receiver writing to the store and the query API reading from it, both on loopback.
type Jaeger struct {
	// QueryURL is the base address of the query service's HTTP API and UI, e.g. http://127.0.0.1:43121.
	QueryURL string
	// OTLPGRPC is the OTLP/gRPC receiver's address (host:port), plaintext.
	OTLPGRPC string
	dir      string
	proc     *harness.Process
}

// JaegerBinary returns the Jaeger v2 binary: $SIEVE_JAEGER_BIN, or the one
// testbed/scripts/install-jaeger.sh builds and caches by version (9 to 15 minutes on 2 cores the
// first time; `make deps` does it once).
func JaegerBinary() (string, error) { return jaegerBin.get() }

var jaegerBin = &builtBinary{env: "SIEVE_JAEGER_BIN", script: "testbed/scripts/install-jaeger.sh"}

// NewJaeger starts Jaeger and waits until every component is up (its v2 health check). Close
// stops it and removes its directory.
func NewJaeger(ctx context.Context, opts JaegerOptions) (*Jaeger, error) {
	bin, err := JaegerBinary()
	if err != nil {
		return nil, err
	}
	dir, ports, err := workDir("sieve-jaeger-", 5)
	if err != nil {
		return nil, err
	}
	maxTraces := opts.MaxTraces
	if maxTraces <= 0 {
		maxTraces = 100_000
	}
	cfg := fmt.Sprintf(jaegerConfig, ports[0], ports[1], ports[2], ports[3], maxTraces, ports[4])
	if err := writeFile(filepath.Join(dir, "jaeger.yaml"), cfg); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	proc, err := startProcess("jaeger", dir, bin, "--config", filepath.Join(dir, "jaeger.yaml"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	j := &Jaeger{
		QueryURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		OTLPGRPC: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		dir:      dir,
		proc:     proc,
	}
	// healthcheckv2 answers 200 once every component of the pipeline reported it started.
	if err := waitReady(ctx, proc, fmt.Sprintf("http://127.0.0.1:%d/status", ports[3]), "StatusOK"); err != nil {
		return nil, joinErr(err, j.Close())
	}
	if err := waitReady(ctx, proc, j.QueryURL+"/api/services", `"data"`); err != nil {
		return nil, joinErr(err, j.Close())
	}
	return j, nil
}

// Close stops Jaeger and removes its directory.
func (j *Jaeger) Close() error {
	err := j.proc.Stop(stopGrace)
	return joinErr(err, os.RemoveAll(j.dir))
}

// JaegerSpan is one span read back from Jaeger's query API.
type JaegerSpan struct {
	// TraceID and SpanID are lowercase hex, 32 and 16 digits (as the OTel SDKs print them).
	TraceID, SpanID string
	// ParentSpanID is the CHILD_OF reference's span ID, "" for a root span.
	ParentSpanID string
	Service      string
	Operation    string
	Start        time.Time
	Duration     time.Duration
	// Tags holds the span's attributes and Jaeger's translations of its kind and status
	// (span.kind, otel.status_code, error), every value rendered as a string.
	Tags map[string]string
}

// Error reports whether the span's status is Error (Jaeger tags such spans error=true).
func (s JaegerSpan) Error() bool { return s.Tags["error"] == "true" }

// JaegerTrace is one trace: its ID and every span Jaeger holds for it, ordered by start time.
type JaegerTrace struct {
	TraceID string
	Spans   []JaegerSpan
}

// Trace returns the spans Jaeger holds for a trace (hex trace ID, as the SDKs print it), in start
// order, unadjusted (raw). A trace Jaeger does not hold returns no spans and no error.
func (j *Jaeger) Trace(ctx context.Context, traceID string) ([]JaegerSpan, error) {
	q := url.Values{}
	q.Set("raw", "true")
	traces, status, err := j.get(ctx, "/api/traces/"+url.PathEscape(traceID), q)
	if status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var spans []JaegerSpan
	for _, t := range traces {
		spans = append(spans, t.Spans...)
	}
	return spans, nil
}

// FindTraces returns up to limit traces with a span of service that started in [start, end].
// Each trace comes with every span Jaeger holds for it, not only the service's.
func (j *Jaeger) FindTraces(ctx context.Context, service string, start, end time.Time, limit int) ([]JaegerTrace, error) {
	q := url.Values{}
	q.Set("service", service)
	q.Set("start", strconv.FormatInt(start.UnixMicro(), 10))
	q.Set("end", strconv.FormatInt(end.UnixMicro(), 10))
	q.Set("limit", strconv.Itoa(limit))
	q.Set("raw", "true")
	traces, _, err := j.get(ctx, "/api/traces", q)
	return traces, err
}

// Services lists the service names Jaeger holds spans of.
func (j *Jaeger) Services(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+"/api/services", nil)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data []string `json:"data"`
	}
	if err := doJSON(req, &resp); err != nil {
		return nil, err
	}
	sort.Strings(resp.Data)
	return resp.Data, nil
}

// jaegerResponse is the query service's JSON for /api/traces and /api/traces/{id}.
type jaegerResponse struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			StartTime int64 `json:"startTime"` // µs since the epoch
			Duration  int64 `json:"duration"`  // µs
			Tags      []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
			ProcessID string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// get runs a query and returns its traces and the HTTP status.
func (j *Jaeger) get(ctx context.Context, path string, q url.Values) ([]JaegerTrace, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var body jaegerResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("jaeger %s: HTTP %d, undecodable body: %w", path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || len(body.Errors) > 0 {
		return nil, resp.StatusCode, fmt.Errorf("jaeger %s: HTTP %d %+v", path, resp.StatusCode, body.Errors)
	}
	out := make([]JaegerTrace, 0, len(body.Data))
	for _, t := range body.Data {
		jt := JaegerTrace{TraceID: padHex(t.TraceID, 32)}
		for _, s := range t.Spans {
			js := JaegerSpan{
				TraceID:   padHex(s.TraceID, 32),
				SpanID:    padHex(s.SpanID, 16),
				Service:   t.Processes[s.ProcessID].ServiceName,
				Operation: s.OperationName,
				Start:     time.UnixMicro(s.StartTime),
				Duration:  time.Duration(s.Duration) * time.Microsecond,
				Tags:      make(map[string]string, len(s.Tags)),
			}
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" {
					js.ParentSpanID = padHex(r.SpanID, 16)
				}
			}
			for _, tag := range s.Tags {
				js.Tags[tag.Key] = fmt.Sprint(tag.Value)
			}
			jt.Spans = append(jt.Spans, js)
		}
		sort.SliceStable(jt.Spans, func(a, b int) bool { return jt.Spans[a].Start.Before(jt.Spans[b].Start) })
		out = append(out, jt)
	}
	return out, resp.StatusCode, nil
}

// padHex restores the leading zeros Jaeger's JSON drops from IDs.
func padHex(id string, digits int) string {
	if len(id) >= digits {
		return id
	}
	return strings.Repeat("0", digits-len(id)) + id
}

// jaegerConfig: Jaeger v2 with only what the tests need, every listener on loopback and on a free
// port: OTLP/gRPC in, the memory store, the query service (HTTP API + UI and its gRPC API) and the
// v2 health check (HTTP and gRPC, both of which listen by default); no own telemetry endpoint.
// Spans are written as they arrive (no batch processor), so a read right after Sieve's export
// sees them.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:%[4]d
    grpc:
      endpoint: 127.0.0.1:%[6]d
  jaeger_query:
    # On by default in v2: the query service would trace itself to OTLP's default
    # localhost:4317, a gateway's port on a single host, and spend 10 s at shutdown trying.
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%[2]d
    grpc:
      endpoint: 127.0.0.1:%[3]d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: %[5]d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
        max_recv_msg_size_mib: 64
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`
