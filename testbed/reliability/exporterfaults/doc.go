// Package exporterfaults checks what Sieve's loki and prometheus_remote_write exporters promise
// when the backend misbehaves, on bin/sieve as a child process between the load generator and a
// counting sink that injects the faults:
//
//   - backend down for less than the queue holds, then up: nothing lost, per-stream and
//     per-series order kept;
//   - most responses 500/503: nothing lost;
//   - 429 with Retry-After: no retry before it elapses, nothing lost;
//   - 400, 401, 404, 413 and Loki's partial 400: exactly one attempt per request, the drop
//     counted with its reason in Sieve's own telemetry;
//   - a slow backend until the queue is full: memory bounded, senders refused (503 /
//     Unavailable) instead of acknowledged and dropped, everything acknowledged delivered;
//   - retries while the remote-write exporter sends shards in parallel: no sample of a series
//     and no Loki entry of a stream arrives after a newer one.
//
// "Nothing lost" means every item Sieve acknowledged reaches the sink at least once, with the
// content that was sent; duplicates are counted and logged. Each test logs one line of figures.
// The tests are short by default; SIEVE_LONG=1 runs them longer and larger (`make faults`).
// The rig (rig.go) is in the package proper so that other suites can drive these exporters the
// same way.
package exporterfaults
