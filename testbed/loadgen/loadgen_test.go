package loadgen

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		c Class
		n uint64
	}{{ClassKeep, 0}, {ClassInfo, 42}, {ClassSampled, 9_999_999_999_999_999}} {
		s := FormatID(tc.c, tc.n)
		c, n, ok := ParseID(s)
		require.True(t, ok, s)
		require.Equal(t, tc.c, c)
		require.Equal(t, tc.n, n)
	}
	for _, bad := range []string{"", "sid-k-12", "sid-k-00000000000000x1", "xid-k-0000000000000001", "sid-kx0000000000000001"} {
		_, _, ok := ParseID(bad)
		require.False(t, ok, bad)
	}
	var got []uint64
	ScanIDs([]byte(`level=info sieve_test_id=`+FormatID(ClassWarn, 7)+` other="`+FormatID(ClassKeep, 8)+`"`), func(_ Class, n uint64) { got = append(got, n) })
	require.Equal(t, []uint64{7, 8}, got)
}

func FuzzParseID(f *testing.F) {
	f.Add(FormatID(ClassKeep, 12))
	f.Add("sid-k-")
	f.Fuzz(func(t *testing.T, s string) {
		c, n, ok := ParseID(s)
		if ok {
			require.Equal(t, s, FormatID(c, n))
		}
		ScanIDs([]byte(s), func(Class, uint64) {})
	})
}

// Rendering must give every item of every send a distinct ID, keep the item's class, and put
// the shared trace IDs in place of the placeholders.
func TestRenderPatchesIDsAndTraceIDs(t *testing.T) {
	for _, sig := range []Signal{Logs, Traces, Metrics} {
		t.Run(string(sig), func(t *testing.T) {
			ts, err := BuildTemplates(sig, DataConfig{Templates: 4})
			require.NoError(t, err)
			seen := map[uint64]bool{}
			var buf []byte
			for seq := uint64(0); seq < 8; seq++ {
				tpl := ts[seq%4]
				buf = tpl.Render(buf, seq)
				classes := map[Class]int{}
				ScanIDs(buf, func(c Class, n uint64) {
					require.False(t, seen[n], "duplicate ID %d", n)
					seen[n] = true
					require.GreaterOrEqual(t, n, seq*100)
					require.Less(t, n, (seq+1)*100)
					classes[c]++
				})
				require.Equal(t, tpl.PerClass, classes)
				require.NotContains(t, string(buf), string(traceMarker), "a trace ID placeholder was left")
				switch sig {
				case Logs:
					req := plogotlp.NewExportRequest()
					require.NoError(t, req.UnmarshalProto(buf))
					lr := req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
					require.Equal(t, pcommon.TraceID(TraceID(seq, 0)), lr.TraceID())
				case Traces:
					req := ptraceotlp.NewExportRequest()
					require.NoError(t, req.UnmarshalProto(buf))
					require.Equal(t, 100, req.Traces().SpanCount())
				}
			}
			require.Len(t, seen, 800)
		})
	}
}

func TestLogsMix(t *testing.T) {
	ts, err := BuildTemplates(Logs, DataConfig{Templates: 200})
	require.NoError(t, err)
	total := map[Class]int{}
	for _, tpl := range ts {
		for c, n := range tpl.PerClass {
			total[c] += n
		}
	}
	// 20,000 records with 1% error + 0.2% 5xx, 5% warn, 1% of resources without uid.
	require.InDelta(t, 0.012*20000, total[ClassKeep], 80)
	require.InDelta(t, 0.05*20000, total[ClassWarn], 150)
	require.InDelta(t, 0.01*20000, total[ClassNoUID], 150)
	require.Greater(t, total[ClassInfo], 18000)
}

// A fixed rate must not be exceeded: 50 requests of 100 items at 10,000 items/s take 0.49s at
// least (the first request goes out at once).
func TestFixedRatePacing(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	g, err := New(Config{Signal: Logs, Protocol: "http", Endpoint: lis.Addr().String(), Rate: 10000, Concurrency: 4, MaxRequests: 50, Timeout: time.Second})
	require.NoError(t, err)
	defer g.Close()
	start := time.Now()
	g.Run(context.Background())
	require.GreaterOrEqual(t, time.Since(start), 490*time.Millisecond)
	st := g.Stats()
	require.EqualValues(t, 50, st.Requests)
	require.EqualValues(t, 50, st.FailedRequests, "a server closing every connection acknowledges nothing")
	require.Zero(t, st.Acked())
	require.EqualValues(t, 5000, st.Sent())
}
