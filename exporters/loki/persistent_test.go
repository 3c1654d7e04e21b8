package loki

import (
	"context"
	"net"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// memStorage stands in for file_storage: what the queue persisted survives
// the exporter being shut down and created again.
type memStorage struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (*memStorage) Start(context.Context, component.Host) error { return nil }
func (*memStorage) Shutdown(context.Context) error              { return nil }

func (s *memStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return &memClient{s: s}, nil
}

type memClient struct{ s *memStorage }

func (c *memClient) Get(_ context.Context, k string) ([]byte, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return append([]byte(nil), c.s.data[k]...), nil
}

func (c *memClient) Set(_ context.Context, k string, v []byte) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.data[k] = append([]byte(nil), v...)
	return nil
}

func (c *memClient) Delete(_ context.Context, k string) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	delete(c.s.data, k)
	return nil
}

func (c *memClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		var err error
		switch op.Type {
		case storage.Get:
			op.Value, err = c.Get(ctx, op.Key)
			if len(op.Value) == 0 {
				op.Value = nil
			}
		case storage.Set:
			err = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			err = c.Delete(ctx, op.Key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (*memClient) Close(context.Context) error { return nil }

type storageHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.ext }

func TestPersistentQueueSurvivesRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	storageID := component.MustNewID("file_storage")
	host := storageHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{
		storageID: &memStorage{data: map[string][]byte{}},
	}}
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
