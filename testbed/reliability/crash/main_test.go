package crash

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// long reports whether the full-size runs were asked for.
func long() bool { return os.Getenv("SIEVE_LONG") == "1" }

// size picks the reduced or the full-size value of a parameter.
func size[T any](short, full T) T {
	if long() {
		return full
	}
	return short
}
