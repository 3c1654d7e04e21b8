package tieredsampling

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadata"
)

// otlpLogSeeds are export requests as an SDK or an agent sends them, in both OTLP encodings, with
// the fields the tiers and the randomness look at.
func otlpLogSeeds(f *testing.F) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("uid", "res-1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, sev := range []plog.SeverityNumber{plog.SeverityNumberError, plog.SeverityNumberWarn, plog.SeverityNumberInfo, 0} {
		lr := lrs.AppendEmpty()
		lr.SetSeverityNumber(sev)
		lr.Body().SetStr("request served")
		lr.Attributes().PutInt("http.status_code", int64(200+100*i))
		if i%2 == 0 {
			lr.SetTraceID(pcommon.TraceID{byte(i + 1), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		}
		if i == 1 {
			lr.Attributes().PutStr(thresholdAttr, "c")
			lr.Attributes().PutStr(randomnessAttr, "ffffffffffffff")
		}
		if i == 2 {
			lr.Attributes().PutEmptyMap("nested").PutEmptySlice("list").AppendEmpty().SetDouble(1.5)
		}
	}
	// A resource without uid whose records carry none either: dropped before tiering.
	other := ld.ResourceLogs().AppendEmpty()
	other.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetSeverityNumber(plog.SeverityNumberFatal)

	req := plogotlp.NewExportRequestFromLogs(ld)
	pb, err := req.MarshalProto()
	require.NoError(f, err)
	js, err := req.MarshalJSON()
	require.NoError(f, err)
	f.Add(pb)
	f.Add(js)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":17,"attributes":[{"key":"uid","value":{"intValue":"7"}}]}]}]}]}`))
	f.Add([]byte{})
}

// FuzzConsumeOTLPLogs decodes arbitrary bytes the way the OTLP receivers do (protobuf and JSON)
// and hands what decodes to the processor as the gateway runs it: it must never panic or fail
// the batch, never invent records, never pass a record without the required attribute, and stamp
// a valid threshold on every record it keeps so that downstream re-weighting stays sound.
func FuzzConsumeOTLPLogs(f *testing.F) {
	otlpLogSeeds(f)
	cfg := defaultCfg()
	cfg.RequiredAttributes = []string{"uid"}
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(f, err)
	require.NoError(f, p.Start(context.Background(), componenttest.NewNopHost()))
	f.Cleanup(func() { require.NoError(f, p.Shutdown(context.Background())) })

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func(plogotlp.ExportRequest) error{
			func(r plogotlp.ExportRequest) error { return r.UnmarshalProto(data) },
			func(r plogotlp.ExportRequest) error { return r.UnmarshalJSON(data) },
		} {
			req := plogotlp.NewExportRequest()
			if decode(req) != nil {
				continue
			}
			ld := req.Logs()
			in := ld.LogRecordCount()
			sink.Reset()
			require.NoError(t, p.ConsumeLogs(context.Background(), ld))
			out := 0
			for _, got := range sink.AllLogs() {
				out += got.LogRecordCount()
				for i := 0; i < got.ResourceLogs().Len(); i++ {
					rl := got.ResourceLogs().At(i)
					_, resUID := rl.Resource().Attributes().Get("uid")
					for j := 0; j < rl.ScopeLogs().Len(); j++ {
						lrs := rl.ScopeLogs().At(j).LogRecords()
						for k := 0; k < lrs.Len(); k++ {
							attrs := lrs.At(k).Attributes()
							_, recUID := attrs.Get("uid")
							require.True(t, resUID || recUID, "record without uid kept")
							v, ok := attrs.Get(thresholdAttr)
							require.True(t, ok, "kept record without threshold")
							_, err := sampling.TValueToThreshold(v.AsString())
							require.NoError(t, err, "kept record with threshold %q", v.AsString())
						}
					}
				}
			}
			require.LessOrEqual(t, out, in)
		}
	})
}
