package loki

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var updateWire = flag.Bool("update", false, "rewrite the request bodies under testdata/wire")

// wireCorpus exercises every path of the conversion that shapes the bytes on the wire: all
// attribute value types, names that need sanitizing, invalid UTF-8, trace context, zero,
// pre-1970, old, future and out-of-order timestamps, two tenants and an invalid one, long lines
// and enough structured metadata to cross both caps.
func wireCorpus() plog.Logs {
	ld := plog.NewLogs()
	for r := 0; r < 6; r++ {
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		res.PutStr("service.name", fmt.Sprintf("svc-%d", r%3))
		if r == 2 {
			res.PutStr("service.namespace", "shop\xff")
		}
		res.PutStr("region", []string{"eu", "us"}[r%2])
		res.PutInt("pid", int64(1000+r))
		res.PutBool("k8s.ready", r%2 == 0)
		switch r {
		case 3:
			res.PutStr("tenant", "team-b")
		case 4:
			res.PutStr("tenant", "bad tenant/x")
		case 5:
			res.PutStr("tenant", "team-a")
		}
		sl := rl.ScopeLogs().AppendEmpty()
		for i := 0; i < 12; i++ {
			lr := sl.LogRecords().AppendEmpty()
			// Out of order within a stream, with ties.
			ts := t0.Add(time.Duration((i*7)%5) * time.Second)
			switch i {
			case 0:
				// No timestamp: the observed one is used.
				lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(3 * time.Millisecond)))
			case 1:
				// Neither: now.
			case 2:
				lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(-170 * time.Hour)))
			case 3:
				lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Hour)))
			default:
				lr.SetTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Duration(i) * time.Nanosecond)))
			}
			lr.SetSeverityText([]string{"INFO", "", "WARN", "ERROR\n"}[i%4])
			a := lr.Attributes()
			a.PutStr("http.status_code", []string{"200", "404", "500"}[i%3])
			a.PutStr("user.id", fmt.Sprintf("u-%d", i%5))
			a.PutInt("1st", int64(i)-6)
			a.PutDouble("duration_ms", []float64{0, 1.5, 1e21, 1e-7, -2.25, 123456.789}[i%6])
			a.PutBool("cached", i%2 == 1)
			a.PutEmptyBytes("blob").FromRaw([]byte{byte(i), 0xff})
			a.PutEmpty("nothing")
			a.PutStr("__reserved", "x")
			a.PutStr("empty", "")
			a.PutStr("bad.utf8", "a\xffb\xfe\xfdc")
			if i%4 == 0 {
				m := a.PutEmptyMap("ctx")
				m.PutStr("k", "v<&>")
				m.PutInt("n", 1)
				s := a.PutEmptySlice("tags")
				s.AppendEmpty().SetStr("a")
				s.AppendEmpty().SetDouble(2)
			}
			if i%3 == 0 {
				a.PutStr("big", strings.Repeat("x", 300))
			}
			if i%2 == 0 {
				lr.SetTraceID(pcommon.TraceID{byte(r), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
				lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
			}
			switch i % 5 {
			case 0:
				lr.Body().SetStr(fmt.Sprintf("line %d of %d", i, r))
			case 1:
				lr.Body().SetStr(strings.Repeat("é", 300))
			case 2:
				m := lr.Body().SetEmptyMap()
				m.PutStr("msg", "hello \"world\"")
				m.PutInt("n", int64(i))
			case 3:
				lr.Body().SetInt(int64(i))
			case 4:
				// Empty body: an entry without a line.
			}
		}
	}
	return ld
}

// wireConfigs are the label layouts and limits the wire corpus runs through.
func wireConfigs() map[string]func() *Config {
	return map[string]func() *Config{
		"default": testConfig,
		"labels": func() *Config {
			cfg := testConfig()
			cfg.Labels = LabelsConfig{
				Static:             map[string]string{"env": "prod", "cluster": "c1"},
				Severity:           "level",
				ResourceAttributes: []string{"service.name", "service.namespace", "region"},
				LogAttributes:      []string{"http.status_code", "user.id"},
			}
			cfg.Tenant = TenantConfig{Default: "shared", ResourceAttribute: "tenant"}
			cfg.Cardinality.MaxValuesPerLabel = 2
			cfg.StructuredMetadata.MaxEntries = 9
			cfg.StructuredMetadata.MaxSize = 200
			cfg.Limits.MaxLineSize = 100
			return cfg
		},
		"json-lines": func() *Config {
			cfg := testConfig()
			cfg.LineFormat = LineFormatJSON
			cfg.StructuredMetadata.LogAttributes = false
			cfg.StructuredMetadata.ResourceAttributes = false
			cfg.StructuredMetadata.TraceContext = false
			cfg.Limits.MaxLineSize = 400
			cfg.Limits.LineTooLong = ActionDrop
			cfg.Limits.FutureEntries = ActionDrop
			return cfg
		},
	}
}

// TestWireGolden pins the request bodies, in both formats, to files written by the
// PushRequest-based encoder this exporter used before it wrote protobuf directly: the
// protobuf must stay byte-identical to what loki/pkg/push marshals.
func TestWireGolden(t *testing.T) {
	for name, mk := range wireConfigs() {
		for _, format := range []string{FormatProtobuf, FormatJSON} {
			t.Run(name+"-"+format, func(t *testing.T) {
				c := newConverter(mk(), fixedClock(t0.Add(time.Minute)))
				var st convertStats
				batches := c.convert(wireCorpus(), &st)
				require.NotEmpty(t, batches)
				for i, tb := range batches {
					enc, err := encode(tb, format)
					require.NoError(t, err)
					body := enc.body
					ext := "json"
					if format == FormatProtobuf {
						body, err = snappy.Decode(nil, enc.body)
						require.NoError(t, err)
						ext = "pb"
						// Loki's own types re-marshal what they decoded to the same bytes.
						var req push.PushRequest
						require.NoError(t, req.Unmarshal(body))
						again, err := req.Marshal()
						require.NoError(t, err)
						require.Equal(t, again, body)
					} else {
						body = append([]byte(nil), body...)
					}
					enc.release()
					path := filepath.Join("testdata", "wire", fmt.Sprintf("%s-%d-%s.%s", name, i, tb.tenant, ext))
					if *updateWire {
						require.NoError(t, os.WriteFile(path, body, 0o600))
						continue
					}
					want, err := os.ReadFile(path)
					require.NoError(t, err)
					require.Equal(t, want, body, "%s differs", path)
				}
			})
		}
	}
}

func TestAppendFloatMatchesAsString(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 1.5, 0.1, 1e20, 1e21, 1e-6, 1e-7, 123456.789, -2.5e-9,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 1e100, 1e-100} {
		require.Equal(t, pcommon.NewValueDouble(f).AsString(), string(appendFloat([]byte("x"), f)[1:]), "%v", f)
	}
}

func FuzzAppendFloat(f *testing.F) {
	f.Add(1.5)
	f.Add(1e-7)
	f.Add(1e21)
	f.Fuzz(func(t *testing.T, v float64) {
		require.Equal(t, pcommon.NewValueDouble(v).AsString(), string(appendFloat(nil, v)))
	})
}

func TestAppendTimestampMatchesPush(t *testing.T) {
	for _, ns := range []int64{0, 1, 999_999_999, 1e9, 1_700_000_000_123_456_789, -1, -1e9, -1_500_000_001, math.MaxInt64, math.MinInt64} {
		tm := time.Unix(0, ns).UTC()
		want := make([]byte, push.SizeOfStdTime(tm))
		n, err := push.StdTimeMarshalTo(tm, want)
		require.NoError(t, err)
		got := appendTimestamp(nil, ns)
		// The field tag and length, then the Timestamp message.
		require.Equal(t, []byte{tagTimestamp, byte(n)}, got[:2], "%d", ns)
		require.Equal(t, want[:n], got[2:], "%d", ns)
	}
}

// A batch back from the pool must carry nothing over: what follows a release is what a fresh
// converter produces.
func TestPooledBatchesStartClean(t *testing.T) {
	cfg := wireConfigs()["labels"]()
	// Room for every value: the guard's memory of the first batch must not change the second.
	cfg.Cardinality.MaxValuesPerLabel = 1000
	first := newConverter(cfg, fixedClock(t0.Add(time.Minute)))
	var st convertStats
	for _, tb := range first.convert(wireCorpus(), &st) {
		tb.release()
	}
	small := goldenLogs()
	fresh := newConverter(cfg, fixedClock(t0.Add(time.Minute)))
	want := fresh.convert(small, &st)
	got := first.convert(small, &st)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].tenant, got[i].tenant)
		require.Equal(t, want[i].resources, got[i].resources)
		require.Equal(t, want[i].entries, got[i].entries)
		require.Equal(t, want[i].stats, got[i].stats)
		require.Equal(t, want[i].appendProto(nil), got[i].appendProto(nil))
		require.Len(t, got[i].index, len(got[i].streams))
	}
}
