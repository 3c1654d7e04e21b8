package filestorage

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// errReserveSpent refuses a new item while the reserve is given up: the space left is kept for
// the queue's bookkeeping. It wraps ENOSPC, the error a full disk gives, so callers treat it
// the same way (the queue refuses the data, and the sender retries).
var errReserveSpent = fmt.Errorf("storage directory is full and its reserve is spent: new items are refused until the queue frees room: %w", syscall.ENOSPC)

// guardedClient is a storage client that draws on the reserve when a bookkeeping write fails
// for lack of space, and refuses new items that would eat into the space it gave back.
type guardedClient struct {
	storage.Client
	ext *checked
	// name tells the client's file apart in logs.
	name string
	// queue: the client is an exporter's, i.e. a persistent sending queue. Other components
	// (e.g. a file_log receiver's checkpoints) also draw on the reserve, but a failed write of
	// theirs loses no item.
	queue bool
}

func (g *guardedClient) Close(ctx context.Context) error {
	g.ext.forget(g)
	return g.Client.Close(ctx)
}

// Item keys of exporterhelper's persistent queue are decimal indexes; its bookkeeping lives
// under other keys. A Set of an item key adds an item, unless the queue is still starting, when
// it puts back the items that were being sent at the last stop: acknowledged data that may use
// the reserve.
func isItemKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < '0' || key[i] > '9' {
			return false
		}
	}
	return true
}

func (g *guardedClient) adds(ops []*storage.Operation) bool {
	if !g.queue || !g.ext.ready.Load() {
		return false
	}
	for _, op := range ops {
		if op != nil && op.Type == storage.Set && isItemKey(op.Key) {
			return true
		}
	}
	return false
}

func (g *guardedClient) Set(ctx context.Context, key string, value []byte) error {
	return g.Batch(ctx, storage.SetOperation(key, value))
}

func (g *guardedClient) Delete(ctx context.Context, key string) error {
	return g.Batch(ctx, storage.DeleteOperation(key))
}

func (g *guardedClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if g.adds(ops) {
		if g.ext.reserve.refusing() {
			g.ext.telemetry.FileStorageItemsRefused.Add(ctx, 1)
			return errReserveSpent
		}
		return g.Client.Batch(ctx, ops...)
	}
	err := g.Client.Batch(ctx, ops...)
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !writes(ops) {
		return err
	}
	released, rerr := g.ext.reserve.release()
	if rerr != nil {
		g.ext.logger.Error("Could not give up the storage reserve", zap.String("file", g.ext.reserve.path), zap.Error(rerr))
	}
	if released {
		g.ext.telemetry.FileStorageReserveReleases.Add(ctx, 1)
		g.ext.logger.Warn("Storage directory is full: gave up the reserve so the queues can keep track of their items; new items are refused while less than half of it is free",
			zap.String("directory", g.ext.cfg.Directory), zap.Int64("reserve_bytes", g.ext.cfg.ReserveBytes), zap.Error(err))
		if err = g.Client.Batch(ctx, ops...); err == nil {
			return nil
		}
	}
	if errors.Is(err, syscall.ENOSPC) && !g.queue {
		g.ext.logger.Error("Storage directory is full and the reserve is spent: a write failed",
			zap.String("client", g.name), zap.Error(err))
	} else if errors.Is(err, syscall.ENOSPC) {
		g.ext.telemetry.FileStorageBookkeepingFailures.Add(ctx, 1)
		g.ext.logger.Error("Storage directory is full and the reserve is spent: a queue could not record its progress; the item it was reading is skipped and lost, a delivered one may be sent again after a restart",
			zap.String("directory", g.ext.cfg.Directory), zap.Error(err))
	}
	return err
}

// writes reports whether ops change the store; a failed read needs no room.
func writes(ops []*storage.Operation) bool {
	for _, op := range ops {
		if op != nil && op.Type != storage.Get {
			return true
		}
	}
	return false
}
