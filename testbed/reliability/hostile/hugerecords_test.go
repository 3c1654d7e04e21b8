package hostile

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
)

// hugeBatch is one OTLP request of records the gateway keeps (errors with a uid).
type hugeBatch struct {
	name    string
	records int
	build   func(ld plog.Logs, now time.Time)
}

func errorRecord(lrs plog.LogRecordSlice, now time.Time, i int) plog.LogRecord {
	lr := lrs.AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Microsecond)))
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.SetSeverityText("ERROR")
	lr.Attributes().PutStr("uid", fmt.Sprintf("u-%d", i))
	return lr
}

// TestHugeRecordsReachLokiWithinItsLimits sends, through the shipped gateway pipeline to a real
// Loki with its default per-entry limits, records with 10k attributes, 1 MB bodies and attribute
// values, a 1 MB label value, and a label attribute (service.name) with very many distinct
// values. Loki must never discard anything nor answer a 4xx; what breaks its limits must be
// truncated or demoted to structured metadata by the exporter and counted; Sieve's memory must
// stay bounded.
func TestHugeRecordsReachLokiWithinItsLimits(t *testing.T) {
	loki := backends.StartLoki(t, backends.LokiOptions{})
	sieve, _ := startGateway(t, map[string]string{"SIEVE_LOKI_PUSH_URL": loki.PushURL()})
	w := watchRSS(t, sieve.PID())
	base := w.FirstBytes()

	const megabyte = 1 << 20
	wide := harness.Pick(20, 200)
	bigOnes := harness.Pick(12, 60)
	distinct := harness.Pick(50_000, 1_000_000)
	const perRequest = 10_000 // distinct services per request: about 1 MB of OTLP

	now := time.Now()
	var batches []hugeBatch
	for i := 0; i < wide; i += 5 {
		batches = append(batches, hugeBatch{name: "10k attributes", records: 5, build: func(ld plog.Logs, now time.Time) {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "wide")
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for k := 0; k < 5; k++ {
				lr := errorRecord(lrs, now, i+k)
				lr.Body().SetStr("wide record")
				attrs := lr.Attributes()
				attrs.EnsureCapacity(10_001)
				for a := 0; a < 10_000; a++ {
					attrs.PutStr(fmt.Sprintf("attr.%05d", a), "v")
				}
			}
		}})
	}
	for i := 0; i < bigOnes; i += 6 {
		batches = append(batches, hugeBatch{name: "1 MB body and attribute", records: 6, build: func(ld plog.Logs, now time.Time) {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "big")
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for k := 0; k < 6; k++ {
				lr := errorRecord(lrs, now, i+k)
				lr.Body().SetStr(strings.Repeat("b", megabyte))
				lr.Attributes().PutStr("payload", strings.Repeat("p", megabyte))
			}
		}})
	}
	batches = append(batches, hugeBatch{name: "1 MB label value", records: 2, build: func(ld plog.Logs, now time.Time) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", strings.Repeat("s", megabyte))
		rl.Resource().Attributes().PutStr("deployment.environment.name", strings.Repeat("e", 3000))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for k := 0; k < 2; k++ {
			errorRecord(lrs, now, k).Body().SetStr("huge labels")
		}
	}})
	for first := 0; first < distinct; first += perRequest {
		n := min(perRequest, distinct-first)
		batches = append(batches, hugeBatch{name: "distinct service.name", records: n, build: func(ld plog.Logs, now time.Time) {
			for k := first; k < first+n; k++ {
				rl := ld.ResourceLogs().AppendEmpty()
				rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%07d", k))
				errorRecord(rl.ScopeLogs().AppendEmpty().LogRecords(), now, k).Body().SetStr("one of many services")
			}
		}})
	}

	client := &http.Client{Timeout: 2 * time.Minute}
	sent := map[string]int{}
	var total, maxBody int
	start := time.Now()
	for _, b := range batches {
		ld := plog.NewLogs()
		b.build(ld, now)
		require.Equal(t, b.records, ld.LogRecordCount())
		body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		require.NoError(t, err)
		maxBody = max(maxBody, len(body))
		code, msg, err := postOTLP(context.Background(), client, "http://"+sieve.OTLPHTTP+"/v1/logs", "", body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "%s: %s", b.name, msg)
		sent[b.name] += b.records
		total += b.records
	}
	t.Logf("sent %d records in %d requests (largest %d KiB) in %v: %v", total, len(batches), maxBody>>10, time.Since(start).Round(time.Millisecond), sent)

	tel := sieve.TelemetryURL
	deadline := time.Now().Add(harness.Pick(3*time.Minute, 15*time.Minute))
	for harness.SumAt(t, tel, "otelcol_exporter_loki_entries_sent") < float64(total) {
		require.True(t, time.Now().Before(deadline), "Loki accepted %v of %d entries; sieve log:\n%s",
			harness.SumAt(t, tel, "otelcol_exporter_loki_entries_sent"), total, sieve.LogTail(20))
		requireHealthy(t, sieve)
		time.Sleep(500 * time.Millisecond)
	}
	w.Stop()
	elapsed := time.Since(start)

	// Sieve's side: everything delivered, nothing refused by Loki, every adjustment counted.
	require.Equal(t, float64(total), harness.SumAt(t, tel, "otelcol_exporter_loki_entries_sent"))
	require.Zero(t, harness.SumAt(t, tel, "otelcol_exporter_loki_entries_dropped"), "entries dropped")
	require.Zero(t, harness.SumAt(t, tel, "otelcol_exporter_loki_requests_failed"), "push requests failed")
	require.Zero(t, harness.SumAt(t, tel, "otelcol_exporter_send_failed_log_records"))
	truncated := harness.SumAt(t, tel, "otelcol_exporter_loki_lines_truncated")
	smTruncated := harness.SumAt(t, tel, "otelcol_exporter_loki_structured_metadata_truncated")
	budget := harness.SumAt(t, tel, "otelcol_exporter_loki_labels_demoted", "reason", "value_budget")
	tooLong := harness.SumAt(t, tel, "otelcol_exporter_loki_labels_demoted", "reason", "value_too_long")
	require.GreaterOrEqual(t, truncated, float64(sent["1 MB body and attribute"]), "1 MB bodies must be truncated")
	require.GreaterOrEqual(t, smTruncated, float64(sent["10k attributes"]+sent["1 MB body and attribute"]), "oversized structured metadata must be cut")
	// Resource labels are decided once per resource: one demotion for each of its two
	// over-long values.
	require.GreaterOrEqual(t, tooLong, 2.0, "over-long label values must be demoted")
	// The exporter admits max_values_per_label (1000) values per label and window; the rest of
	// the distinct services, and the fixed ones sent after the budget ran out, are demoted.
	require.GreaterOrEqual(t, budget, float64(distinct-1000))

	// Loki's side: nothing discarded, every line received.
	discarded := harness.SumAt(t, loki.URL+"/metrics", "loki_discarded_samples_total")
	received := harness.SumAt(t, loki.URL+"/metrics", "loki_distributor_lines_received_total")
	require.Zero(t, discarded, "Loki discarded entries")
	require.Equal(t, float64(total), received)
	values, err := loki.LabelValues(context.Background(), "", "service_name", now.Add(-time.Hour), time.Now().Add(time.Minute))
	require.NoError(t, err)
	// The guard's 1000 values, plus the unknown_service Loki itself gives streams without one.
	require.LessOrEqual(t, len(values), 1000+1, "service_name values reaching Loki are bounded by the guard")

	t.Logf("delivered %d entries in %v: %v lines truncated, %v structured metadata cut, %v label values demoted for the value budget and %v for length; Loki holds %d service_name values, discarded %v, received %v lines",
		total, elapsed.Round(time.Millisecond), truncated, smTruncated, budget, tooLong, len(values), discarded, received)
	t.Logf("Sieve RSS: %d MiB before, peak %d MiB (+%d MiB)", base/mib, w.PeakBytes()/mib, (w.PeakBytes()-base)/mib)
	require.Less(t, w.PeakBytes()-base, int64(harness.Pick(768, 1536))*mib, "resident memory grew beyond its budget")
	requireHealthy(t, sieve)
}
