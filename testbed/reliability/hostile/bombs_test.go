package hostile

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/sieveobs/sieve/testbed/harness"
)

var otlpPaths = []string{"/v1/logs", "/v1/traces", "/v1/metrics"}

var grpcMethods = []string{
	"/opentelemetry.proto.collector.logs.v1.LogsService/Export",
	"/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}

// zeros streams n bytes of zeros into w: the most compressible payload, the worst bomb.
func zeros(w io.Writer, n int64) error {
	chunk := make([]byte, mib)
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

type bomb struct {
	encoding string
	body     []byte
	inflated int64
}

// buildBombs compresses `inflated` bytes of zeros with every encoding confighttp accepts.
func buildBombs(t *testing.T, inflated int64) []bomb {
	t.Helper()
	stream := func(encoding string, newWriter func(io.Writer) (io.WriteCloser, error)) bomb {
		var buf bytes.Buffer
		w, err := newWriter(&buf)
		require.NoError(t, err)
		require.NoError(t, zeros(w, inflated))
		require.NoError(t, w.Close())
		return bomb{encoding: encoding, body: buf.Bytes(), inflated: inflated}
	}
	bombs := []bomb{
		stream("gzip", func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestCompression) }),
		stream("zstd", func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
		}),
		stream("zlib", func(w io.Writer) (io.WriteCloser, error) { return zlib.NewWriterLevel(w, zlib.BestCompression) }),
		stream("deflate", func(w io.Writer) (io.WriteCloser, error) { return zlib.NewWriterLevel(w, zlib.BestCompression) }),
		stream("lz4", func(w io.Writer) (io.WriteCloser, error) { return lz4.NewWriter(w), nil }),
		stream("x-snappy-framed", func(w io.Writer) (io.WriteCloser, error) { return snappy.NewBufferedWriter(w), nil }),
	}
	// The snappy block format declares its decoded length up front; 64 MiB keeps the block under
	// the body limit so that the decoded-length check, not the raw limit, has to refuse it.
	block := make([]byte, 64*mib)
	bombs = append(bombs, bomb{encoding: "snappy", body: snappy.Encode(nil, block), inflated: int64(len(block))})
	// The shipped receivers do not accept zstd over HTTP (see TestGRPCZstdWindowBomb for why);
	// these two check that they still refuse it, cheaply.
	bombs = append(bombs, bomb{encoding: "zstd (512 MiB window)", body: zstdWindowBomb(inflated), inflated: inflated})
	return bombs
}

// zstdWindowBomb is a hand-made zstd frame that declares the largest window a decoder accepts
// by default (512 MiB) and then inflates with RLE blocks: a decoder that allocates the declared
// window up front, per request, would be exhausted by a few concurrent requests.
func zstdWindowBomb(inflated int64) []byte {
	const blockSize = 128 << 10
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(29-10) << 3}
	for n := int64(0); n < inflated; n += blockSize {
		last := uint32(0)
		if n+blockSize >= inflated {
			last = 1
		}
		hdr := last | 1<<1 | blockSize<<3 // RLE block: blockSize copies of the byte that follows
		b = append(b, byte(hdr), byte(hdr>>8), byte(hdr>>16), 0)
	}
	return b
}

// validLogs is one record the gateway keeps (an error with a uid).
func validLogs(t *testing.T) []byte {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.Attributes().PutStr("uid", "u-1")
	lr.Body().SetStr("still accepting")
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	return b
}

func postOTLP(ctx context.Context, client *http.Client, url, encoding string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if encoding != "" {
		req.Header.Set("Content-Encoding", strings.Fields(encoding)[0])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(msg), nil
}

// TestCompressionBombsAndOversizedBodies sends, concurrently and on every OTLP HTTP path of the
// gateway, bodies that inflate far beyond max_request_body_size with each accepted encoding, and
// a plain body just over it; then gRPC messages over max_recv_msg_size_mib, gzip-compressed and
// plain. Every one must be refused, Sieve's resident memory must stay far below what inflating
// them would take, and Sieve must keep accepting valid data.
func TestCompressionBombsAndOversizedBodies(t *testing.T) {
	limits := shippedReceiverLimits(t, "configs/gateway.yaml")
	inflated := harness.Pick[int64](256*mib, 1024*mib)
	concurrency := harness.Pick(4, 16)
	rounds := harness.Pick(2, 5)
	// Each request in flight may hold up to the body limit twice (received and inflated), plus
	// the decoder's state; the rest is runtime headroom. Inflating even one bomb needs more.
	budget := int64(concurrency)*3*limits.HTTPMaxBody + 128*mib
	require.Less(t, budget, int64(concurrency)*inflated, "bombs in flight must be able to exceed the budget")

	buildStart := time.Now()
	bombs := buildBombs(t, inflated)
	plain := bomb{encoding: "", body: bytes.Repeat([]byte{0x0a, 0x00}, int(limits.HTTPMaxBody/2)+mib), inflated: limits.HTTPMaxBody + 2*mib}
	bombs = append(bombs, plain)
	t.Logf("built %d bombs in %v (inflating to %d MiB each)", len(bombs), time.Since(buildStart).Round(time.Millisecond), inflated/mib)

	sieve, _ := startGateway(t, nil)
	w := watchRSS(t, sieve.PID())
	base := w.FirstBytes()
	client := &http.Client{Timeout: 2 * time.Minute}
	ctx := context.Background()

	for _, b := range bombs {
		name := b.encoding
		if name == "" {
			name = "identity (oversized)"
		}
		t.Run("http/"+name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, concurrency*rounds*len(otlpPaths))
			start := time.Now()
			for c := 0; c < concurrency; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for r := 0; r < rounds; r++ {
						path := otlpPaths[(c+r)%len(otlpPaths)]
						code, msg, err := postOTLP(ctx, client, "http://"+sieve.OTLPHTTP+path, b.encoding, b.body)
						switch {
						case err != nil:
							errs <- fmt.Errorf("%s: %w", path, err)
						case code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge:
							errs <- fmt.Errorf("%s: status %d (%q), want 400 or 413", path, code, msg)
						}
					}
				}(c)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			t.Logf("%d requests of %d KiB (inflating to %d MiB) refused in %v; peak RSS so far %d MiB",
				concurrency*rounds, len(b.body)>>10, b.inflated/mib, time.Since(start).Round(time.Millisecond), w.PeakBytes()/mib)
		})
	}

	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	require.NoError(t, err)
	defer conn.Close()
	grpcLimit := limits.GRPCMaxRecvMiB * mib
	for _, tc := range []struct {
		name       string
		size       int
		compressor string
	}{
		{"gzip bomb", harness.Pick(64, 256) * mib, grpcgzip.Name},
		{"oversized", grpcLimit + mib, ""},
	} {
		t.Run("grpc/"+tc.name, func(t *testing.T) {
			msg := make([]byte, tc.size)
			var opts []grpc.CallOption
			if tc.compressor != "" {
				opts = append(opts, grpc.UseCompressor(tc.compressor))
			}
			var wg sync.WaitGroup
			codesSeen := make(chan error, concurrency*len(grpcMethods))
			start := time.Now()
			for c := 0; c < concurrency; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					var resp []byte
					codesSeen <- conn.Invoke(ctx, grpcMethods[c%len(grpcMethods)], &msg, &resp, opts...)
				}(c)
			}
			wg.Wait()
			close(codesSeen)
			for err := range codesSeen {
				require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
			}
			t.Logf("%d messages of %d MiB (%s) refused with ResourceExhausted in %v; peak RSS so far %d MiB",
				concurrency, tc.size/mib, tc.name, time.Since(start).Round(time.Millisecond), w.PeakBytes()/mib)
		})
	}

	// Refusing was not the end of the receivers: valid data is still accepted on both.
	code, msg, err := postOTLP(ctx, client, "http://"+sieve.OTLPHTTP+"/v1/logs", "", validLogs(t))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, msg)
	valid := validLogs(t)
	var resp []byte
	require.NoError(t, conn.Invoke(ctx, grpcMethods[0], &valid, &resp))
	requireHealthy(t, sieve)

	w.Stop()
	t.Logf("Sieve RSS: %d MiB before, peak %d MiB (+%d MiB; budget +%d MiB, one inflated bomb %d MiB)",
		base/mib, w.PeakBytes()/mib, (w.PeakBytes()-base)/mib, budget/mib, inflated/mib)
	require.Less(t, w.PeakBytes()-base, budget, "resident memory grew beyond what the limits allow")
}

// rawCodec sends bytes as they are, so that a message can be larger than any real export.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return nil, fmt.Errorf("rawCodec: unexpected %T", v)
}
func (rawCodec) Unmarshal([]byte, any) error { return nil }
func (rawCodec) Name() string                { return "proto" }

// TestSlowClientsAreCutOff opens connections to the OTLP HTTP port that send their headers, or
// their body, one byte per second. The server must close each within read_header_timeout
// (respectively read_timeout), and keep serving normal clients meanwhile.
func TestSlowClientsAreCutOff(t *testing.T) {
	limits := shippedReceiverLimits(t, "configs/gateway.yaml")
	sieve, _ := startGateway(t, nil)
	w := watchRSS(t, sieve.PID())
	conns := harness.Pick(50, 500)

	for _, tc := range []struct {
		name    string
		prefix  string // sent at once
		drip    string // then one byte per second
		timeout time.Duration
	}{
		{"headers", "", "POST /v1/logs HTTP/1.1\r\nHost: sieve\r\nContent-Type: application/x-protobuf\r\nX-Padding: " + strings.Repeat("a", 256), limits.ReadHeaderTimeout},
		{"body", "POST /v1/logs HTTP/1.1\r\nHost: sieve\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1048576\r\n\r\n", strings.Repeat("\x0a", 4096), limits.ReadTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			results := make(chan slowResult, conns)
			var wg, dripping sync.WaitGroup
			for i := 0; i < conns; i++ {
				wg.Add(1)
				dripping.Add(1)
				go func() {
					defer wg.Done()
					results <- slowClient(sieve.OTLPHTTP, tc.prefix, tc.drip, tc.timeout+10*time.Second, dripping.Done)
				}()
			}
			// While they drip, a normal client is served at once.
			dripping.Wait()
			code, msg, err := postOTLP(context.Background(), &http.Client{Timeout: 5 * time.Second}, "http://"+sieve.OTLPHTTP+"/v1/logs", "", validLogs(t))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, msg)

			wg.Wait()
			close(results)
			var slowest time.Duration
			for r := range results {
				require.NoError(t, r.err)
				// Bytes kept flowing for most of the timeout: the cut is the timeout's doing.
				require.GreaterOrEqual(t, r.written, int(tc.timeout/time.Second)-2)
				require.LessOrEqual(t, r.open, tc.timeout+3*time.Second, "connection held open beyond the timeout")
				slowest = max(slowest, r.open)
			}
			t.Logf("%d slow-%s clients cut off after at most %v (timeout %v); peak RSS %d MiB", conns, tc.name, slowest.Round(100*time.Millisecond), tc.timeout, w.PeakBytes()/mib)
		})
	}
	t.Cleanup(func() { requireHealthy(t, sieve) })
}

type slowResult struct {
	open    time.Duration
	written int
	err     error
}

// slowClient sends prefix, then drip one byte per second until the server closes the
// connection or giveUp passes; it reports how long the connection stayed open. dripping is
// called once, when the first dripped byte is out (or the client failed).
func slowClient(addr, prefix, drip string, giveUp time.Duration, dripping func()) slowResult {
	var once sync.Once
	defer once.Do(dripping)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return slowResult{err: err}
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte(prefix + drip[:1])); err != nil {
		return slowResult{err: err}
	}
	once.Do(dripping)
	closed := make(chan struct{})
	go func() {
		// The server answers nothing to a timed-out request: any read result means closed.
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	}()
	written := 1
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return slowResult{open: time.Since(start), written: written}
		case <-tick.C:
		}
		if time.Since(start) > giveUp {
			c.Close()
			<-closed
			return slowResult{open: time.Since(start), written: written, err: errors.New("still open when the client gave up")}
		}
		if _, err := c.Write([]byte{drip[(i+1)%len(drip)]}); err == nil {
			written++
		}
	}
}

// windowBombCompressor stands in for the client's zstd compressor: whatever the message, it
// sends the window bomb, so that a tiny request reaches the server's zstd decoder.
type windowBombCompressor struct{ frame []byte }

type windowBombWriter struct {
	w     io.Writer
	frame []byte
}

func (b *windowBombWriter) Write(p []byte) (int, error) { return len(p), nil }
func (b *windowBombWriter) Close() error {
	_, err := b.w.Write(b.frame)
	return err
}

func (c windowBombCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return &windowBombWriter{w: w, frame: c.frame}, nil
}
func (windowBombCompressor) Decompress(io.Reader) (io.Reader, error) {
	return nil, errors.New("the test client never decompresses")
}
func (windowBombCompressor) Name() string { return "zstd" }

// TestGRPCZstdWindowBomb sends 8 KiB zstd frames that declare a 512 MiB window to the gateway's
// OTLP gRPC receiver. They are refused (ResourceExhausted), but the zstd decoder the collector
// registers for gRPC sizes its history by the declared window and nothing bounds it, so each
// request would pin tens of MiB, so resident memory grows with every round and a few hundred such
// requests exhaust any gateway. Sieve registers its own gRPC zstd decompressor with a bounded
// window (internal/grpczstd); the HTTP receivers of the shipped configurations do not accept
// zstd, which confighttp decodes with an unbounded window.
func TestGRPCZstdWindowBomb(t *testing.T) {
	encoding.RegisterCompressor(windowBombCompressor{frame: zstdWindowBomb(256 * mib)})
	sieve, _ := startGateway(t, nil)
	w := watchRSS(t, sieve.PID())
	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	require.NoError(t, err)
	defer conn.Close()
	concurrency, rounds := 4, harness.Pick(8, 32)
	msg := []byte{0x0a, 0x00}
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		errs := make(chan error, concurrency)
		for c := 0; c < concurrency; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var resp []byte
				errs <- conn.Invoke(context.Background(), grpcMethods[c%len(grpcMethods)], &msg, &resp, grpc.UseCompressor("zstd"))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			// Internal: the bounded decoder refuses the frame header; ResourceExhausted: a
			// decoder that takes the window stops at the message size limit. Neither is retried.
			require.Contains(t, []codes.Code{codes.Internal, codes.ResourceExhausted}, status.Code(err), "%v", err)
		}
		t.Logf("round %d: %d requests of %d KiB refused; peak RSS %d MiB (started at %d MiB)", r, concurrency, len(zstdWindowBomb(256*mib))>>10, w.PeakBytes()/mib, w.FirstBytes()/mib)
	}
	w.Stop()
	requireHealthy(t, sieve)
	// The other bombs stay within concurrency x 3 x the message limit; this one must too.
	require.Less(t, w.PeakBytes()-w.FirstBytes(), int64(concurrency)*3*16*mib+128*mib)
}
