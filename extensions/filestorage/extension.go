package filestorage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/extensions/filestorage/internal/metadata"
)

// storageExtension is what the exporters' persistent queues look up by ID.
type storageExtension interface {
	extension.Extension
	storage.Extension
}

type checked struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	inner     storageExtension
	now       func() time.Time

	reserve *reserve
	// ready is set once every pipeline has started: from then on a Set of a queue item is new data.
	ready atomic.Bool
	// retake is how often a spent reserve is tried again.
	retake time.Duration
	stop   chan struct{}
	done   sync.WaitGroup

	mu      sync.Mutex
	clients map[*guardedClient]struct{}
	// compacted is when the queue files were last compacted to give room back.
	compacted time.Time
}

// compactEvery spaces out compactions while the reserve is spent: one that fails for lack of
// room stops as soon as it has filled the free space, so trying again is cheap but not free.
const compactEvery = 5 * time.Second

func newChecked(set extension.Settings, cfg *Config, inner extension.Extension) (*checked, error) {
	se, ok := inner.(storageExtension)
	if !ok {
		return nil, fmt.Errorf("file_storage: %T is not a storage extension", inner)
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	name := "sieve-reserve-" + strings.ReplaceAll(set.ID.String(), "/", "_")
	return &checked{
		cfg: cfg, logger: set.Logger, telemetry: tb, inner: se, now: time.Now,
		reserve: newReserve(cfg.Directory, name, cfg.ReserveBytes), retake: time.Second,
		clients: map[*guardedClient]struct{}{},
	}, nil
}

func (c *checked) Start(ctx context.Context, host component.Host) error {
	if c.cfg.CheckOnStart {
		c.checkDirectory(ctx)
	}
	if err := c.inner.Start(ctx, host); err != nil {
		return err
	}
	if c.cfg.ReserveBytes > 0 {
		if err := c.reserve.take(); err != nil {
			c.logger.Error("Storage directory has no room for the reserve: new items are refused while less than half of it is free",
				zap.String("file", c.reserve.path), zap.Int64("reserve_bytes", c.cfg.ReserveBytes), zap.Error(err))
		}
		c.stop = make(chan struct{})
		c.done.Add(1)
		go c.retakeLoop()
	}
	return nil
}

// retakeLoop takes a spent reserve back once the disk has room again, e.g. after compaction
// shrank a drained queue file.
func (c *checked) retakeLoop() {
	defer c.done.Done()
	t := time.NewTicker(c.retake)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.retakeReserve()
		}
	}
}

// retakeReserve takes the reserve back when the disk has room for it. Delivered items free
// pages inside the queue files but not on the disk, so while new items are being refused the
// files are compacted first: that succeeds once what they still hold fits in the free space,
// and gives the rest back to the disk.
func (c *checked) retakeReserve() {
	if !c.reserve.isSpent() {
		return
	}
	if c.reserve.refusing() && c.now().Sub(c.compacted) >= compactEvery {
		c.compacted = c.now()
		c.compactClients()
	}
	if c.reserve.take() == nil {
		c.logger.Info("Storage reserve taken again",
			zap.String("file", c.reserve.path), zap.Int64("reserve_bytes", c.cfg.ReserveBytes))
	}
}

// compactor is contrib's storage client, which can rewrite its file without the free pages.
type compactor interface {
	Compact(directory string, timeout time.Duration, maxTransactionSize int64) error
}

func (c *checked) compactClients() {
	c.mu.Lock()
	clients := make([]*guardedClient, 0, len(c.clients))
	for g := range c.clients {
		clients = append(clients, g)
	}
	c.mu.Unlock()
	for _, g := range clients {
		cp, ok := g.Client.(compactor)
		if !ok {
			continue
		}
		maxTx := int64(0)
		if c.cfg.Compaction != nil {
			maxTx = c.cfg.Compaction.MaxTransactionSize
		}
		if err := cp.Compact(c.cfg.Directory, c.cfg.Timeout, maxTx); err != nil {
			// Expected while the queue holds more than the disk has free.
			c.logger.Debug("Compaction to give room back failed", zap.String("client", g.name), zap.Error(err))
			continue
		}
		c.telemetry.FileStorageCompactions.Add(context.Background(), 1)
		c.logger.Info("Compacted a queue file to give room back to the disk", zap.String("client", g.name))
	}
}

func (c *checked) track(g *guardedClient) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clients[g] = struct{}{}
}

func (c *checked) forget(g *guardedClient) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.clients, g)
}

func (c *checked) Shutdown(ctx context.Context) error {
	if c.stop != nil {
		close(c.stop)
		c.done.Wait()
		c.stop = nil
	}
	err := c.inner.Shutdown(ctx)
	c.telemetry.Shutdown()
	return err
}

// Ready is called once every pipeline has started.
func (c *checked) Ready() error {
	c.ready.Store(true)
	return nil
}

// NotReady is called before the pipelines shut down.
func (c *checked) NotReady() error {
	c.ready.Store(false)
	return nil
}

func (c *checked) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	client, err := c.inner.GetClient(ctx, kind, id, name)
	if err != nil || c.cfg.ReserveBytes == 0 {
		return client, err
	}
	g := &guardedClient{Client: client, ext: c, name: fmt.Sprintf("%s_%s_%s", kind, id, name), queue: kind == component.KindExporter}
	c.track(g)
	return g, nil
}

// storageFile matches the names file_storage gives its files: <kind>_<type>_<name>[_<name>].
// Anything else in the directory (backups, compaction temporaries, foreign files) is left alone.
var storageFile = regexp.MustCompile(`^(receiver|processor|exporter|extension|connector)_[^.]*$`)

// checkDirectory moves every storage file that bbolt cannot read aside. A directory that
// cannot be listed is left to file_storage, which reports it when a component opens a file.
func (c *checked) checkDirectory(ctx context.Context) {
	entries, err := os.ReadDir(c.cfg.Directory)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !storageFile.MatchString(e.Name()) {
			continue
		}
		if info, err := e.Info(); err != nil || info.Size() == 0 {
			continue // bbolt initialises an empty file itself
		}
		path := filepath.Join(c.cfg.Directory, e.Name())
		if err := checkFile(path, c.cfg.Timeout); err != nil {
			c.quarantine(ctx, path, err)
		}
	}
}

func (c *checked) quarantine(ctx context.Context, path string, cause error) {
	aside := path + "." + c.now().UTC().Format("20060102T150405.000Z") + ".corrupt"
	if err := os.Rename(path, aside); err != nil {
		// file_storage will fail on it as it would without this check, naming the file.
		c.logger.Error("Storage file is corrupt and could not be moved aside", zap.String("file", path),
			zap.NamedError("corruption", cause), zap.Error(err))
		return
	}
	c.telemetry.FileStorageFilesQuarantined.Add(ctx, 1)
	c.logger.Error("Storage file is corrupt: moved aside, the queue it held starts empty and its items are lost",
		zap.String("file", path), zap.String("moved_to", aside), zap.Error(cause))
}

// checkFile opens path read-only and reads every page reachable from its buckets. bbolt maps
// the file into memory and trusts its page headers: a truncated file faults on access and a
// garbled one panics, so both are turned into errors here.
func checkFile(path string, timeout time.Duration) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the file panicked: %v", r)
		}
	}()
	db, err := bbolt.Open(path, 0, &bbolt.Options{ReadOnly: true, Timeout: max(timeout, 10*time.Millisecond)})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil // another process holds it: in use, not corrupt; file_storage reports the lock
	}
	if err != nil {
		return err
	}
	defer db.Close()
	// sum keeps the reads of walk from being optimised away.
	var sum byte
	defer runtime.KeepAlive(&sum)
	return db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error { return walk(b, &sum) })
	})
}

// walk visits every key of b and its nested buckets, and one byte in every page of each value,
// so that overflow pages past the end of a truncated file fault here rather than in a queue.
func walk(b *bbolt.Bucket, sum *byte) error {
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v != nil {
			for i := 0; i < len(v); i += 4096 {
				*sum ^= v[i]
			}
			if len(v) > 0 {
				*sum ^= v[len(v)-1]
			}
			continue
		}
		if nested := b.Bucket(k); nested != nil {
			if err := walk(nested, sum); err != nil {
				return err
			}
		}
	}
	return nil
}
