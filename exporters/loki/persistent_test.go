package loki

import (
	"context"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/sieveobs/sieve/internal/storagetest"
)

func TestPersistentQueueSurvivesRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	storageID := component.MustNewID("file_storage")
	host := storagetest.New().Host(storageID)
	cfg := testConfig()
	cfg.ClientConfig.Endpoint = "http://" + addr + "/loki/api/v1/push"
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = time.Minute
	q := cfg.QueueConfig.Get()
	q.StorageID = &storageID
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	require.NoError(t, cfg.Validate())

	newExp := func() func() {
		set, _ := metadataSettings(t)
		exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), host))
		return func() { require.NoError(t, exp.Shutdown(context.Background())) }
	}

	// Loki is down: batches are acked once persisted, then the process stops.
	set, tt := metadataSettings(t)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	var want []string
	for b := 0; b < 3; b++ {
		prefix := "p" + strconv.Itoa(b)
		require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(prefix, 10)))
		want = append(want, lines(prefix, 0, 10)...)
	}
	// Stop while a send is failing, so a batch is in flight at shutdown.
	require.Eventually(t, func() bool { return connectionFailures(tt) >= 2 }, 10*time.Second, time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))

	// Loki comes up and a new exporter on the same storage delivers the backlog.
	mock := newMockLoki(t, func(string, int) reply { return reply{} })
	ln2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(mock)
	require.NoError(t, srv.Listener.Close())
	srv.Listener = ln2
	srv.Start()
	defer srv.Close()
	stop := newExp()
	defer stop()

	require.Eventually(t, func() bool {
		_, stored := mock.snapshot()
		return len(stored[""]) >= len(want)
	}, 20*time.Second, 10*time.Millisecond)
	_, stored := mock.snapshot()
	// exporterhelper puts the batch that was in flight at shutdown behind the
	// backlog, so across a restart only completeness is guaranteed; Loki's
	// unordered writes accept the late batch.
	require.ElementsMatch(t, want, stored[""])
}
