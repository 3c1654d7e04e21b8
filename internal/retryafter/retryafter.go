// Package retryafter reads the HTTP Retry-After header, which Sieve's exporters honour before
// retrying a throttled or unavailable backend.
package retryafter

import (
	"net/http"
	"strconv"
	"time"
)

// Parse reads delay-seconds or an HTTP-date (RFC 9110 10.2.3). A date in the past means retry
// now. ok is false for an empty, negative or malformed value.
func Parse(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
