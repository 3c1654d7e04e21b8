// Package load runs bin/sieve under sustained load through the gateway pipeline and checks that
// nothing it acknowledged was lost beyond what the sampling policy drops:
//
//   - TestLoad sends 10k items/s of each signal over OTLP gRPC and OTLP HTTP for a few seconds;
//     with SIEVE_LONG=1 it sends 10k and 100k items/s for 60 s each.
//   - TestSoak, enabled by SIEVE_SOAK_DURATION (e.g. 1h), sends all three signals at a moderate
//     rate for that long, samples Sieve's RSS and goroutine count every 10 s into a CSV (in
//     SIEVE_SOAK_OUT, default a new temporary directory) and fails when either grows after the
//     warm-up (the first tenth of the run, or SIEVE_SOAK_WARMUP).
//
// The non-test files hold what these runs, and the policy flapping tests next door, share: a
// gateway configuration derived from configs/gateway.yaml, the gateway itself between the load
// generator and one counting sink, and the rule that judges delivered counts against the
// sampling rates. Processes, /proc and Sieve's own metrics are read with testbed/harness.
package load
