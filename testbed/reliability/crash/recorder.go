package crash

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

// recorder sits between Sieve and a sinks.Sink: it forwards every Loki push and remote-write
// request, and when the sink accepted it, keeps a fingerprint of each item's content by item
// ID. The sink decides the outcome (including injected faults); when the sink drops the
// connection, the recorder drops Sieve's, so Sieve sees the same failure it would see from the
// sink directly.
type recorder struct {
	URL string

	upstream string
	client   *http.Client
	srv      *http.Server
	lis      net.Listener
	done     chan struct{}

	mu sync.Mutex
	// loki and rw hold the fingerprint of the first arrival of each item ID.
	loki, rw map[string]string
	// dups counts later arrivals of an ID; divergent those whose content differed from the
	// first arrival, with an example.
	lokiDups, rwDups, divergent uint64
	divergentEx                 string
	decodeErrs                  []string
}

func newRecorder(upstream string) (*recorder, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &recorder{
		URL:      "http://" + lis.Addr().String(),
		upstream: upstream,
		// The raw (snappy) bodies are forwarded as they came.
		client: &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second},
		lis:    lis,
		done:   make(chan struct{}),
		loki:   map[string]string{},
		rw:     map[string]string{},
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { defer close(r.done); _ = r.srv.Serve(lis) }()
	return r, nil
}

func (r *recorder) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	<-r.done
	r.client.CloseIdleConnections()
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	up, err := http.NewRequestWithContext(req.Context(), req.Method, r.upstream+req.URL.Path, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	up.Header = req.Header.Clone()
	resp, err := r.client.Do(up)
	if err != nil {
		// The sink is down: so is the backend as Sieve sees it.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		// Recorded before Sieve gets the answer, as a backend stores before it acknowledges.
		r.record(req.URL.Path, req.Header, body)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

func (r *recorder) record(path string, h http.Header, body []byte) {
	var (
		fps map[string]string
		err error
	)
	switch path {
	case "/loki/api/v1/push":
		fps, err = lokiFingerprints(h, body)
	case "/api/v1/write":
		fps, err = remoteWriteFingerprints(h, body)
	default:
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if len(r.decodeErrs) < 10 {
			r.decodeErrs = append(r.decodeErrs, fmt.Sprintf("%s: %v", path, err))
		}
		return
	}
	seen, dups := r.loki, &r.lokiDups
	if path == "/api/v1/write" {
		seen, dups = r.rw, &r.rwDups
	}
	for id, fp := range fps {
		first, ok := seen[id]
		if !ok {
			seen[id] = fp
			continue
		}
		*dups++
		if first != fp {
			r.divergent++
			if r.divergentEx == "" {
				r.divergentEx = fmt.Sprintf("%s: first %q, later %q", id, first, fp)
			}
		}
	}
}

// lookup returns the fingerprint an item arrived with.
func (r *recorder) lookup(sig loadgen.Signal, id string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.loki
	if sig == loadgen.Metrics {
		m = r.rw
	}
	fp, ok := m[id]
	return fp, ok
}

// recorderStats is a snapshot of what arrived.
type recorderStats struct {
	Loki, RemoteWrite, LokiDuplicates, RemoteWriteDuplicates, Divergent int
	DivergentExample                                                    string
	DecodeErrors                                                        []string
}

func (r *recorder) stats() recorderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recorderStats{len(r.loki), len(r.rw), int(r.lokiDups), int(r.rwDups), int(r.divergent), r.divergentEx, append([]string(nil), r.decodeErrs...)}
}

// Fingerprints are the item's fields Sieve must carry unchanged, in a fixed order: the same
// function of the sent record and of the received entry, so any corruption (a field of another
// record, a truncated value, a restored queue entry with the wrong content) changes it.
var lokiFields = []string{"ts", "line", "level", "trace_id", "span_id", "logger", "caller", "http_method", "http_route",
	"http_status_code", "duration_ms", "service_name", "region", "uid"}

func fingerprint(fields map[string]string, names []string) string {
	var b strings.Builder
	for _, n := range names {
		v, ok := fields[n]
		if !ok {
			v = "<none>"
		}
		b.WriteString(n + "=" + v + "\x1f")
	}
	return b.String()
}

var streamLabelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func lokiFingerprints(h http.Header, body []byte) (map[string]string, error) {
	if strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		return nil, fmt.Errorf("JSON push bodies are not decoded here; the test configs use protobuf")
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, err
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, st := range req.Streams {
		labels := map[string]string{}
		for _, m := range streamLabelRE.FindAllStringSubmatch(st.Labels, -1) {
			v, err := strconv.Unquote(`"` + m[2] + `"`)
			if err != nil {
				return nil, fmt.Errorf("stream labels %s: %w", st.Labels, err)
			}
			labels[m[1]] = v
		}
		for _, e := range st.Entries {
			fields := map[string]string{}
			for k, v := range labels {
				fields[k] = v
			}
			for _, l := range e.StructuredMetadata {
				fields[l.Name] = l.Value
			}
			fields["ts"] = strconv.FormatInt(e.Timestamp.UnixNano(), 10)
			fields["line"] = e.Line
			id := fields[sanitize(loadgen.IDAttribute)]
			if id == "" {
				continue
			}
			out[id] = fingerprint(fields, lokiFields)
		}
	}
	return out, nil
}

func sanitize(k string) string { return strings.ReplaceAll(k, ".", "_") }

// expectedLogs returns the fingerprint of every record of an encoded OTLP logs request.
func expectedLogs(body []byte) (map[string]string, error) {
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		return nil, err
	}
	out := map[string]string{}
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := map[string]string{}
		rls.At(i).Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			res[sanitize(k)] = v.AsString()
			return true
		})
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				fields := map[string]string{}
				for n, v := range res {
					fields[n] = v
				}
				lr.Attributes().Range(func(k string, v pcommon.Value) bool {
					fields[sanitize(k)] = v.AsString()
					return true
				})
				fields["ts"] = strconv.FormatInt(lr.Timestamp().AsTime().UnixNano(), 10)
				fields["line"] = lr.Body().AsString()
				fields["level"] = lr.SeverityText()
				tid, sid := lr.TraceID(), lr.SpanID()
				fields["trace_id"] = hex.EncodeToString(tid[:])
				fields["span_id"] = hex.EncodeToString(sid[:])
				out[fields[sanitize(loadgen.IDAttribute)]] = fingerprint(fields, lokiFields)
			}
		}
	}
	return out, nil
}

var rwFields = []string{"__name__", "http_route", "value", "ts"}

func remoteWriteFingerprints(h http.Header, body []byte) (map[string]string, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	add := func(labels map[string]string, value float64, ts int64) {
		id := labels[sanitize(loadgen.IDAttribute)]
		if id == "" {
			return
		}
		labels["value"] = strconv.FormatFloat(value, 'g', -1, 64)
		labels["ts"] = strconv.FormatInt(ts, 10)
		out[id] = fingerprint(labels, rwFields)
	}
	if strings.Contains(h.Get("Content-Type"), "io.prometheus.write.v2.Request") {
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return nil, err
		}
		for _, ts := range req.Timeseries {
			labels := map[string]string{}
			for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
				labels[req.Symbols[ts.LabelsRefs[i]]] = req.Symbols[ts.LabelsRefs[i+1]]
			}
			for _, s := range ts.Samples {
				add(labels, s.Value, s.Timestamp)
			}
		}
		return out, nil
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, err
	}
	for _, ts := range req.Timeseries {
		labels := map[string]string{}
		for _, l := range ts.Labels {
			labels[l.Name] = l.Value
		}
		for _, s := range ts.Samples {
			add(labels, s.Value, s.Timestamp)
		}
	}
	return out, nil
}

// expectedMetrics returns the fingerprint of every data point of an encoded OTLP metrics
// request, named as the remote-write translation names them (monotonic sums get _total).
func expectedMetrics(body []byte) (map[string]string, error) {
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		return nil, err
	}
	out := map[string]string{}
	rms := req.Metrics().ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				name := sanitize(m.Name())
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
					if m.Sum().IsMonotonic() {
						name += "_total"
					}
				default:
					return nil, fmt.Errorf("metric %s: type %v is not generated by loadgen", m.Name(), m.Type())
				}
				for p := 0; p < dps.Len(); p++ {
					dp := dps.At(p)
					fields := map[string]string{"__name__": name}
					dp.Attributes().Range(func(k string, v pcommon.Value) bool {
						fields[sanitize(k)] = v.AsString()
						return true
					})
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					fields["value"] = strconv.FormatFloat(v, 'g', -1, 64)
					fields["ts"] = strconv.FormatInt(dp.Timestamp().AsTime().UnixMilli(), 10)
					out[fields[sanitize(loadgen.IDAttribute)]] = fingerprint(fields, rwFields)
				}
			}
		}
	}
	return out, nil
}
