package otlpwire

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// dropEveryOther drops the records whose index in the request is odd.
type dropEveryOther struct{ i int }

func (d *dropEveryOther) DropLog(*Resource, *LogRecord) bool {
	d.i++
	return d.i%2 == 0
}

// FuzzLogsFilter: whatever the bytes, the filter either refuses them or writes a request that
// decodes to the input's records minus the dropped ones, with the emptied scope and resource
// groups removed; and it never accepts a request the decoder refuses (the malformed part could
// be in a record it drops).
func FuzzLogsFilter(f *testing.F) {
	f.Add(benchLogs(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, req []byte) {
		var lf LogsFilter
		d := &dropEveryOther{}
		out, res, err := lf.Filter(nil, req, d)
		in := plogotlp.NewExportRequest()
		inErr := in.UnmarshalProto(req)
		if err != nil {
			return
		}
		require.NoError(t, inErr, "the filter accepted a request the decoder refuses")
		require.Equal(t, in.Logs().LogRecordCount(), res.Records)
		got := plogotlp.NewExportRequest()
		require.NoError(t, got.UnmarshalProto(out))

		want := in.Logs()
		i := 0
		want.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
			rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
				sl.LogRecords().RemoveIf(func(plog.LogRecord) bool {
					i++
					return i%2 == 0
				})
				return sl.LogRecords().Len() == 0 && res.Dropped > 0
			})
			return rl.ScopeLogs().Len() == 0 && res.Dropped > 0
		})
		wb, err := plogotlp.NewExportRequestFromLogs(want).MarshalProto()
		require.NoError(t, err)
		gb, err := got.MarshalProto()
		require.NoError(t, err)
		require.Equal(t, wb, gb)
	})
}

func TestCompileLogCondition(t *testing.T) {
	for _, tc := range []struct {
		cond string
		ok   bool
	}{
		{`severity_number >= SEVERITY_NUMBER_ERROR or Int(attributes["http.status_code"]) >= 500`, true},
		{`log.severity_text == "WARN" and not (resource.attributes["service.name"] != "x")`, true},
		{`body == nil or flags > 0 or attributes["ratio"] < .5 or attributes["k"] == true`, true},
		{`true`, true},
		{`IsMatch(body, "^GET")`, false},
		{`attributes["a"]["b"] == 1`, false},
		{`severity_number + 1 > 5`, false},
		{`trace_id == nil`, false},
		{`attributes["x"] == 0x01`, false},
		{`String(attributes["x"]) == "1"`, false},
		{`severity_number >`, false},
	} {
		_, ok := CompileLogCondition(tc.cond)
		require.Equal(t, tc.ok, ok, tc.cond)
	}
}
