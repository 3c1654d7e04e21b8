package filestorage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
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
}

func newChecked(set extension.Settings, cfg *Config, inner extension.Extension) (*checked, error) {
	se, ok := inner.(storageExtension)
	if !ok {
		return nil, fmt.Errorf("file_storage: %T is not a storage extension", inner)
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &checked{cfg: cfg, logger: set.Logger, telemetry: tb, inner: se, now: time.Now}, nil
}

func (c *checked) Start(ctx context.Context, host component.Host) error {
	if c.cfg.CheckOnStart {
		c.checkDirectory(ctx)
	}
	return c.inner.Start(ctx, host)
}

func (c *checked) Shutdown(ctx context.Context) error {
	err := c.inner.Shutdown(ctx)
	c.telemetry.Shutdown()
	return err
}

func (c *checked) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	return c.inner.GetClient(ctx, kind, id, name)
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
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil // another process holds it: in use, not corrupt; file_storage reports the lock
	}
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error { return walk(b) })
	})
}

// touched keeps the reads of walk from being optimised away.
var touched byte

// walk visits every key of b and its nested buckets, and one byte in every page of each value,
// so that overflow pages past the end of a truncated file fault here rather than in a queue.
func walk(b *bbolt.Bucket) error {
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v != nil {
			for i := 0; i < len(v); i += 4096 {
				touched ^= v[i]
			}
			if len(v) > 0 {
				touched ^= v[len(v)-1]
			}
			continue
		}
		if nested := b.Bucket(k); nested != nil {
			if err := walk(nested); err != nil {
				return err
			}
		}
	}
	return nil
}
