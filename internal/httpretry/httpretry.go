// Package httpretry is the one retry rule of Sieve's HTTP exporters, modelled on Prometheus'
// remote-write client (its RecoverableError carries the rule and the Retry-After delay): a 429 or
// a 5xx may be retried, after Retry-After when the server sends one; any other status is
// permanent, since resending the same request gets the same answer.
package httpretry // import "github.com/sieveobs/sieve/internal/httpretry"

import (
	"net/http"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/sieveobs/sieve/internal/retryafter"
)

// Reasons, the values of the exporters' failure-reason metric attribute.
const (
	Throttled   = "throttled"
	ServerError = "server_error"
	ClientError = "client_error"
	Unexpected  = "unexpected_status"
)

// Result is a classified answer.
type Result struct {
	// Err is what the exporter returns to exporterhelper: permanent, a throttle retry carrying
	// the Retry-After delay, or cause itself, which exporterhelper retries with backoff.
	Err       error
	Reason    string
	Permanent bool
	// Throttled reports that a Retry-After was honoured; Delay is its wait.
	Throttled bool
	Delay     time.Duration
}

// Classify applies the rule to a non-2xx status; cause describes the failure.
func Classify(status int, header http.Header, now time.Time, cause error) Result {
	var r Result
	switch {
	case status == http.StatusTooManyRequests:
		r.Reason = Throttled
	case status >= 500 && status <= 599:
		r.Reason = ServerError
	case status >= 400 && status <= 499:
		r.Reason, r.Permanent = ClientError, true
	default:
		// 1xx and 3xx are not answers a push should get (redirects were already followed);
		// resending would not change them.
		r.Reason, r.Permanent = Unexpected, true
	}
	if r.Permanent {
		r.Err = consumererror.NewPermanent(cause)
		return r
	}
	if d, ok := retryafter.Parse(header.Get("Retry-After"), now); ok {
		r.Throttled, r.Delay = true, d
		r.Err = exporterhelper.NewThrottleRetry(cause, d)
		return r
	}
	r.Err = cause
	return r
}
