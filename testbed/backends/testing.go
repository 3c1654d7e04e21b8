package backends

import (
	"context"
	"testing"
)

// StartLoki starts a real Loki for a test and stops it at the test's cleanup.
func StartLoki(tb testing.TB, opts LokiOptions) *Loki {
	tb.Helper()
	l, err := NewLoki(context.Background(), opts)
	if err != nil {
		tb.Fatalf("start loki: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("stop loki: %v", err)
		}
	})
	return l
}

// StartJaeger starts a real Jaeger v2 (in-memory storage) for a test and stops it at the test's cleanup.
func StartJaeger(tb testing.TB, opts JaegerOptions) *Jaeger {
	tb.Helper()
	j, err := NewJaeger(context.Background(), opts)
	if err != nil {
		tb.Fatalf("start jaeger: %v", err)
	}
	tb.Cleanup(func() {
		if err := j.Close(); err != nil {
			tb.Errorf("stop jaeger: %v", err)
		}
	})
	return j
}

// StartPrometheus starts a real Prometheus for a test and stops it at the test's cleanup.
func StartPrometheus(tb testing.TB, opts PrometheusOptions) *Prometheus {
	tb.Helper()
	p, err := NewPrometheus(context.Background(), opts)
	if err != nil {
		tb.Fatalf("start prometheus: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("stop prometheus: %v", err)
		}
	})
	return p
}

// TestEtcd wraps Etcd with test-failing Stop/Start for restart tests.
type TestEtcd struct {
	*Etcd
	tb testing.TB
}

// StartEtcd starts a real etcd for a test and removes it at the test's cleanup.
func StartEtcd(tb testing.TB) *TestEtcd {
	tb.Helper()
	e, err := NewEtcd(context.Background())
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("stop etcd: %v", err)
		}
	})
	return &TestEtcd{Etcd: e, tb: tb}
}

// Stop stops etcd, keeping its data; the test fails if it does not stop cleanly.
func (e *TestEtcd) Stop(tb testing.TB) {
	tb.Helper()
	if err := e.Etcd.Stop(); err != nil {
		tb.Fatalf("stop etcd: %v", err)
	}
}

// Start restarts etcd on the same port and data.
func (e *TestEtcd) Start(tb testing.TB) {
	tb.Helper()
	if err := e.Etcd.Start(context.Background()); err != nil {
		tb.Fatalf("restart etcd: %v", err)
	}
}
