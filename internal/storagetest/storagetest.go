// Package storagetest is an in-memory storage extension for the persistent-queue tests of Sieve's
// exporters: what a queue persisted survives the exporter being shut down and created again, as
// with file_storage, without a file.
package storagetest // import "github.com/sieveobs/sieve/internal/storagetest"

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Storage is the extension. Every client shares its data.
type Storage struct {
	mu   sync.Mutex
	data map[string][]byte
	// itemReads counts queue items read out: exporterhelper's persistent queue reads an item
	// (a numeric key) when it hands it to the batcher.
	itemReads atomic.Int64
}

// New returns an empty storage.
func New() *Storage { return &Storage{data: map[string][]byte{}} }

// Host is a component.Host whose only extension is s under id.
func (s *Storage) Host(id component.ID) component.Host {
	return host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{id: s}}
}

// ItemReads is how many queue items were read out so far.
func (s *Storage) ItemReads() int64 { return s.itemReads.Load() }

func (*Storage) Start(context.Context, component.Host) error { return nil }
func (*Storage) Shutdown(context.Context) error              { return nil }

func (s *Storage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return &client{s: s}, nil
}

type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

type client struct{ s *Storage }

func (c *client) Get(_ context.Context, k string) ([]byte, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return append([]byte(nil), c.s.data[k]...), nil
}

func (c *client) Set(_ context.Context, k string, v []byte) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.data[k] = append([]byte(nil), v...)
	return nil
}

func (c *client) Delete(_ context.Context, k string) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	delete(c.s.data, k)
	return nil
}

func (c *client) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		var err error
		switch op.Type {
		case storage.Get:
			if _, numeric := strconv.ParseUint(op.Key, 10, 64); numeric == nil {
				c.s.itemReads.Add(1)
			}
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

func (*client) Close(context.Context) error { return nil }
