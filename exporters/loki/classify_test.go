package loki

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	partial := "entry with timestamp 2020 ignored, reason: 'entry too far behind',\nuser 'fake', total ignored: 1 out of 3 for stream: {a=\"b\"}\n" +
		"user 'fake', total ignored: 1 out of 2 for stream: {a=\"c\"}"
	allIgnored := "user 'fake', total ignored: 2 out of 2 for stream: {a=\"b\"}"
	tests := []struct {
		name        string
		status      int
		retryAfter  string
		body        string
		wantReason  string
		permanent   bool
		throttled   bool
		wantDelay   time.Duration
		wantIgnored int
	}{
		{name: "1xx", status: 103, wantReason: failUnexpectedStatus, permanent: true},
		{name: "3xx", status: 304, wantReason: failUnexpectedStatus, permanent: true},
		{name: "400", status: 400, body: "entry for stream '{a=\"b\"}' has timestamp too old", wantReason: failBadRequest, permanent: true},
		{name: "400 partial", status: 400, body: partial, wantReason: failPartial, permanent: true, wantIgnored: 2},
		{name: "400 all ignored", status: 400, body: allIgnored, wantReason: failBadRequest, permanent: true, wantIgnored: 2},
		{name: "400 ignores Retry-After", status: 400, retryAfter: "5", wantReason: failBadRequest, permanent: true},
		{name: "401", status: 401, wantReason: failClientError, permanent: true},
		{name: "403", status: 403, wantReason: failClientError, permanent: true},
		{name: "404", status: 404, wantReason: failClientError, permanent: true},
		{name: "413", status: 413, wantReason: failClientError, permanent: true},
		{name: "429", status: 429, wantReason: failThrottled},
		{name: "429 Retry-After seconds", status: 429, retryAfter: "7", wantReason: failThrottled, throttled: true, wantDelay: 7 * time.Second},
		{name: "429 Retry-After date", status: 429, retryAfter: now.Add(90 * time.Second).Format(http.TimeFormat), wantReason: failThrottled, throttled: true, wantDelay: 90 * time.Second},
		{name: "429 Retry-After in the past", status: 429, retryAfter: now.Add(-time.Hour).Format(http.TimeFormat), wantReason: failThrottled, throttled: true},
		{name: "429 Retry-After garbage", status: 429, retryAfter: "soon", wantReason: failThrottled},
		{name: "500", status: 500, wantReason: failServerError},
		{name: "502", status: 502, wantReason: failServerError},
		{name: "503 Retry-After", status: 503, retryAfter: "2", wantReason: failServerError, throttled: true, wantDelay: 2 * time.Second},
		{name: "504", status: 504, wantReason: failServerError},
		{name: "600", status: 600, wantReason: failUnexpectedStatus, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set(headerRetryAfter, tt.retryAfter)
			}
			o := classify(tt.status, h, []byte(tt.body), now)
			require.Equal(t, tt.wantReason, o.reason)
			require.Equal(t, tt.permanent, o.permanent)
			require.Equal(t, tt.permanent, consumererror.IsPermanent(o.err))
			require.Equal(t, tt.throttled, o.throttled)
			require.Equal(t, tt.wantDelay, o.delay)
			require.Equal(t, tt.wantIgnored, o.ignored)
			require.ErrorContains(t, o.err, "loki responded")
		})
	}
}
