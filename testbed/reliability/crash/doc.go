// Package crash holds Sieve's process-level reliability tests: bin/sieve is run as a child
// process with a persistent sending queue, killed with SIGKILL at random moments, stopped with
// SIGTERM, starved of disk, given a corrupted queue file and pushed to its memory limit, while
// the load generator records exactly which items Sieve acknowledged. A recording proxy in front
// of the counting sink keeps what arrives, so every acknowledged item is checked to reach the
// backend at least once with the content it was sent with; duplicates are allowed and counted.
//
// The tests run at a reduced size by default (the whole package in about three minutes); with
// SIEVE_LONG=1 they run at full size (make faults), e.g. twenty kills instead of three.
// SIEVE_CRASH_LOG_DIR=<dir> keeps Sieve's own logs there, one file per test, to investigate a
// failure.
//
// The rig (rig.go, with the recording proxy in recorder.go) is in the package proper so that
// other suites can reuse it.
package crash
