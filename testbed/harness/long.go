package harness

import "os"

// Long reports whether the long forms of the suites were asked for: SIEVE_LONG=1, what
// `make faults` and `make soak` set.
func Long() bool { return os.Getenv("SIEVE_LONG") == "1" }

// Pick returns short, or long when the long forms run.
func Pick[T any](short, long T) T {
	if Long() {
		return long
	}
	return short
}
