package httpretry

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	cause := errors.New("push failed")
	tests := []struct {
		status     int
		retryAfter string
		reason     string
		permanent  bool
		delay      time.Duration
	}{
		{429, "", Throttled, false, 0},
		{429, "7", Throttled, false, 7 * time.Second},
		{503, "Sun, 06 Dec 2026 12:00:30 GMT", ServerError, false, 30 * time.Second},
		{500, "", ServerError, false, 0},
		{400, "5", ClientError, true, 0},
		{404, "", ClientError, true, 0},
		{302, "", Unexpected, true, 0},
		{100, "", Unexpected, true, 0},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			r := Classify(tt.status, h, now, cause)
			require.Equal(t, tt.reason, r.Reason)
			require.Equal(t, tt.permanent, r.Permanent)
			require.Equal(t, tt.permanent, consumererror.IsPermanent(r.Err))
			require.ErrorIs(t, r.Err, cause)
			require.Equal(t, tt.delay, r.Delay)
			require.Equal(t, tt.delay > 0, r.Throttled)
		})
	}
}
