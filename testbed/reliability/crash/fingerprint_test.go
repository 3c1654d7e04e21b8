package crash

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

// The content check is only as strong as the fingerprints: every field must be filled from the
// sent item, and no two items of a request may share one, or a mix-up within a batch would pass.
// (Metric requests rendered from the same template repeat their values; their IDs differ.)
func TestExpectedFingerprintsCoverEveryField(t *testing.T) {
	for _, tc := range []struct {
		sig    loadgen.Signal
		expect func([]byte) (map[string]string, error)
		// optional fields may be absent from an item.
		optional []string
	}{
		{loadgen.Logs, expectedLogs, []string{"uid"}},
		{loadgen.Metrics, expectedMetrics, nil},
	} {
		t.Run(string(tc.sig), func(t *testing.T) {
			ts, err := loadgen.BuildTemplates(tc.sig, loadgen.DataConfig{Templates: 2})
			require.NoError(t, err)
			for seq := uint64(0); seq < 4; seq++ {
				seen := map[string]string{}
				want, err := tc.expect(ts[seq%2].Render(nil, seq))
				require.NoError(t, err)
				require.Len(t, want, ts[seq%2].Items)
				for id, fp := range want {
					for _, f := range strings.Split(strings.TrimSuffix(fp, "\x1f"), "\x1f") {
						name, value, _ := strings.Cut(f, "=")
						if value == "<none>" {
							require.Contains(t, tc.optional, name, "%s: field %s is never filled", id, name)
						}
					}
					require.NotContains(t, seen, fp, "%s and %s have the same fingerprint", id, seen[fp])
					seen[fp] = id
				}
			}
		})
	}
}

// The recorder must keep the first arrival and count a later arrival with other content as
// divergent, not as a plain duplicate.
func TestRecorderCountsDivergentDuplicates(t *testing.T) {
	id := loadgen.FormatID(loadgen.ClassInfo, 7)
	body := func(line string) []byte {
		req := push.PushRequest{Streams: []push.Stream{{
			Labels: `{level="info", service_name="svc-01"}`,
			Entries: []push.Entry{{Timestamp: time.Unix(0, 42), Line: line,
				StructuredMetadata: push.LabelsAdapter{{Name: "sieve_test_id", Value: id}}}},
		}}}
		raw, err := req.Marshal()
		require.NoError(t, err)
		return snappy.Encode(nil, raw)
	}
	h := http.Header{"Content-Type": {"application/x-protobuf"}}
	for _, tc := range []struct {
		name                 string
		lines                []string
		wantDups, wantDiverg int
	}{
		{"once", []string{"a"}, 0, 0},
		{"same twice", []string{"a", "a"}, 1, 0},
		{"changed", []string{"a", "b", "a"}, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{loki: map[string]string{}, rw: map[string]string{}}
			for _, l := range tc.lines {
				r.record("/loki/api/v1/push", h, body(l))
			}
			st := r.stats()
			require.Empty(t, st.DecodeErrors)
			require.Equal(t, 1, st.Loki)
			require.Equal(t, tc.wantDups, st.LokiDuplicates)
			require.Equal(t, tc.wantDiverg, st.Divergent)
			fp, ok := r.lookup(loadgen.Logs, id)
			require.True(t, ok)
			require.Contains(t, fp, "line=a\x1f")
			require.Contains(t, fp, "service_name=svc-01\x1f")
			require.Contains(t, fp, "ts=42\x1f")
		})
	}
}
