package sinks

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // collectors' OTLP exporters compress with gzip by default
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// Faults make the sink misbehave. The zero value accepts everything.
type Faults struct {
	// StatusCode answers this HTTP status (mapped to a gRPC code) to a Ratio of requests: the
	// first request after SetFaults, then evenly spread ones, so that even a short run with few
	// requests is certain to exercise the fault and repeated runs refuse the same requests.
	StatusCode int
	Ratio      float64
	// RetryAfter is sent with faulted responses when non-zero.
	RetryAfter time.Duration
	// Latency delays every response.
	Latency time.Duration
	// Down closes HTTP connections without answering and fails gRPC calls as Unavailable.
	Down bool
	// Partial, with StatusCode 400, turns a faulted Loki push into a partial rejection: the
	// sink stores all but this fraction of its entries (evenly spread) and answers 400 with
	// Loki's "total ignored: N out of M" body, as Loki does when some entries fail validation.
	Partial float64
}

// Sink is one counting backend listening on loopback for OTLP gRPC and for HTTP (OTLP, Loki
// push, Loki OTLP, Prometheus remote write).
type Sink struct {
	// GRPCAddr and HTTPAddr are host:port; HTTPURL is the HTTP base URL.
	GRPCAddr, HTTPAddr, HTTPURL string

	// Logs, Traces and Metrics count OTLP items; Loki counts Loki push entries (and records
	// arriving on Loki's OTLP path); RemoteWrite counts remote-write samples.
	Logs, Traces, Metrics, Loki Counter
	RemoteWrite                 RemoteWriteCounter
	// Rejected counts the IDs of Loki entries and remote-write samples in requests answered
	// with an injected fault, and of entries a partial rejection ignored.
	Rejected Counter

	attemptLog attemptLog
	content    contentState

	faultMu  sync.RWMutex
	faults   Faults
	refused  uint64
	seen     uint64 // requests since SetFaults, for the fault schedule
	failures []string

	grpcSrv *grpc.Server
	httpSrv *http.Server
	lis     []net.Listener
	wg      sync.WaitGroup
}

// Start listens on free loopback ports and serves until Close.
func Start() (*Sink, error) {
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, err
	}
	s := &Sink{GRPCAddr: gl.Addr().String(), HTTPAddr: hl.Addr().String(), lis: []net.Listener{gl, hl}}
	s.HTTPURL = "http://" + s.HTTPAddr
	s.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(256<<20), grpc.StatsHandler(grpcBytes{s}))
	plogotlp.RegisterGRPCServer(s.grpcSrv, &logsServer{s: s})
	ptraceotlp.RegisterGRPCServer(s.grpcSrv, &tracesServer{s: s})
	pmetricotlp.RegisterGRPCServer(s.grpcSrv, &metricsServer{s: s})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/logs", s.httpHandler(s.otlpLogs(&s.Logs)))
	mux.HandleFunc("POST /v1/traces", s.httpHandler(s.otlpTraces))
	mux.HandleFunc("POST /v1/metrics", s.httpHandler(s.otlpMetrics))
	mux.HandleFunc("POST /otlp/v1/logs", s.httpHandler(s.otlpLogs(&s.Loki)))
	mux.HandleFunc("POST /loki/api/v1/push", s.httpHandler(s.lokiPush))
	mux.HandleFunc("POST /api/v1/write", s.httpHandler(s.remoteWrite))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = s.grpcSrv.Serve(gl) }()
	go func() { defer s.wg.Done(); _ = s.httpSrv.Serve(hl) }()
	return s, nil
}

// Close stops both servers.
func (s *Sink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.httpSrv.Shutdown(ctx)
	s.grpcSrv.Stop()
	s.wg.Wait()
	return err
}

// SetFaults replaces the fault settings.
func (s *Sink) SetFaults(f Faults) {
	s.faultMu.Lock()
	s.faults, s.seen = f, 0
	s.faultMu.Unlock()
}

// Refused counts requests answered with an injected fault.
func (s *Sink) Refused() uint64 {
	s.faultMu.RLock()
	defer s.faultMu.RUnlock()
	return s.refused
}

// DecodeFailures returns up to ten messages about requests the sink could not decode; a
// non-empty result means the collector sent something the counts do not cover.
func (s *Sink) DecodeFailures() []string {
	s.faultMu.RLock()
	defer s.faultMu.RUnlock()
	return append([]string(nil), s.failures...)
}

// Reset forgets all counts.
func (s *Sink) Reset() {
	s.Logs.Reset()
	s.Traces.Reset()
	s.Metrics.Reset()
	s.Loki.Reset()
	s.RemoteWrite.Reset()
	s.Rejected.Reset()
	s.attemptLog.mu.Lock()
	s.attemptLog.attempts = nil
	s.attemptLog.mu.Unlock()
	s.content.mu.Lock()
	s.content.bad, s.content.errors = 0, nil
	s.content.mu.Unlock()
	s.faultMu.Lock()
	s.refused = 0
	s.failures = nil
	s.faultMu.Unlock()
}

func (s *Sink) noteFailure(err error) {
	s.faultMu.Lock()
	if len(s.failures) < 10 {
		s.failures = append(s.failures, err.Error())
	}
	s.faultMu.Unlock()
}

// fault decides the fate of one request: 0 to accept, or the status to answer.
func (s *Sink) fault() (f Faults, code int) {
	s.faultMu.Lock()
	f = s.faults
	s.seen++
	n := float64(s.seen)
	s.faultMu.Unlock()
	if f.Latency > 0 {
		time.Sleep(f.Latency) // the injected latency itself, not synchronisation
	}
	if f.Down {
		code = -1
	} else if f.StatusCode != 0 && math.Ceil(n*f.Ratio) > math.Ceil((n-1)*f.Ratio) {
		code = f.StatusCode
	}
	if code != 0 {
		s.faultMu.Lock()
		s.refused++
		s.faultMu.Unlock()
	}
	return f, code
}

type decodeFunc func(h http.Header, body []byte, contentType string) error

func (s *Sink) httpHandler(decode decodeFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		f, code := s.fault()
		if code == -1 {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					s.noteAttempt(Attempt{At: at, Answered: time.Now(), Path: r.URL.Path})
					return
				}
			}
			code = http.StatusServiceUnavailable
		}
		if code != 0 {
			if s.keepingAttempts() || f.Partial > 0 {
				s.refuse(w, r, f, code, at)
				return
			}
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
			}
			http.Error(w, "injected fault", code)
			return
		}
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var a Attempt
		if s.keepingAttempts() {
			a = Attempt{At: at, Path: r.URL.Path, Body: fingerprint(raw)}
			defer func() { a.Answered = time.Now(); s.noteAttempt(a) }()
		}
		body, err := decompress(r.Header.Get("Content-Encoding"), raw, r.URL.Path, r.Header.Get("Content-Type"))
		if err == nil {
			err = decode(w.Header(), body, r.Header.Get("Content-Type"))
		}
		if err != nil {
			s.noteFailure(fmt.Errorf("%s: %w", r.URL.Path, err))
			http.Error(w, err.Error(), http.StatusBadRequest)
			a.Status = http.StatusBadRequest
			return
		}
		s.countBytes(r.URL.Path, uint64(len(raw)))
		switch r.URL.Path {
		case "/loki/api/v1/push", "/api/v1/write":
			a.Items = itemsOf(w.Header())
			w.Header().Del(itemsHeader)
			a.Status = http.StatusNoContent
			w.WriteHeader(http.StatusNoContent)
		default:
			a.Status = http.StatusOK
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
		}
	}
}

// countBytes attributes compressed request sizes; the decoders committed the items already.
func (s *Sink) countBytes(path string, n uint64) {
	var c *Counter
	switch path {
	case "/v1/logs":
		c = &s.Logs
	case "/v1/traces":
		c = &s.Traces
	case "/v1/metrics":
		c = &s.Metrics
	case "/otlp/v1/logs", "/loki/api/v1/push":
		c = &s.Loki
	case "/api/v1/write":
		s.RemoteWrite.addBytes(n)
		return
	}
	c.mu.Lock()
	c.bytes += n
	c.mu.Unlock()
}

var zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))

func decompress(encoding string, b []byte, path, contentType string) ([]byte, error) {
	switch encoding {
	case "", "identity":
		// Loki push and remote-write protobuf bodies are snappy block-compressed whether or not
		// the client says so.
		if (path == "/loki/api/v1/push" || path == "/api/v1/write") && !isJSON(contentType) {
			return snappy.Decode(nil, b)
		}
		return b, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "zstd":
		return zstdDecoder.DecodeAll(b, nil)
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "snappy":
		return snappy.Decode(nil, b)
	}
	return nil, fmt.Errorf("unsupported Content-Encoding %q", encoding)
}

// grpcFault maps an injected HTTP status to the gRPC code an OTLP server would use.
func (s *Sink) grpcFault() error {
	_, code := s.fault()
	switch {
	case code == 0:
		return nil
	case code == -1 || code == http.StatusServiceUnavailable:
		return status.Error(codes.Unavailable, "injected fault")
	case code == http.StatusTooManyRequests:
		return status.Error(codes.ResourceExhausted, "injected fault")
	case code >= 400 && code < 500:
		return status.Error(codes.InvalidArgument, "injected fault")
	}
	return status.Error(codes.Internal, "injected fault")
}

// grpcBytes counts the wire size of gRPC request messages, as the HTTP handlers count bodies.
type grpcBytes struct{ s *Sink }

type methodKey struct{}

func (g grpcBytes) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}

func (g grpcBytes) HandleRPC(ctx context.Context, st stats.RPCStats) {
	in, ok := st.(*stats.InPayload)
	if !ok {
		return
	}
	var c *Counter
	switch m, _ := ctx.Value(methodKey{}).(string); {
	case strings.HasPrefix(m, "/opentelemetry.proto.collector.logs."):
		c = &g.s.Logs
	case strings.HasPrefix(m, "/opentelemetry.proto.collector.trace."):
		c = &g.s.Traces
	case strings.HasPrefix(m, "/opentelemetry.proto.collector.metrics."):
		c = &g.s.Metrics
	default:
		return
	}
	c.mu.Lock()
	c.bytes += uint64(in.WireLength)
	c.mu.Unlock()
}

func (grpcBytes) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (grpcBytes) HandleConn(context.Context, stats.ConnStats)                       {}
