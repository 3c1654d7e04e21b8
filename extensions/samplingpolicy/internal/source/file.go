package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// File reads a local file and watches its directory, so editors that replace the file by a
// rename and Kubernetes ConfigMap symlink swaps are both seen. On Linux a file that a writer
// still has open after writing to it is not read until the writer closes it.
type File struct {
	Path string
	// Debounce waits for writes to settle, so a file read mid-write is not refused as invalid.
	Debounce time.Duration

	w      *fsnotify.Watcher
	writes *openWrites
	// deferred is called each time a read waits for a writer; tests use it.
	deferred func()
}

// openTooLong is how long a writer may keep the file open before the wait is reported.
const openTooLong = 30 * time.Second

// Prepare starts watching before the first Fetch, so a change made between that read and the
// start of Watch is not missed. Close releases the watch if Watch never runs.
func (f *File) Prepare() error {
	if f.w != nil {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err = w.Add(filepath.Dir(f.Path)); err != nil {
		w.Close()
		return err
	}
	writes, err := newOpenWrites(filepath.Dir(f.Path), filepath.Base(f.Path))
	if err != nil {
		return errors.Join(err, w.Close())
	}
	f.w, f.writes = w, writes
	return nil
}

// Close stops the watch; Watch calls it when it returns.
func (f *File) Close() error {
	if f.w == nil {
		return nil
	}
	err := errors.Join(f.w.Close(), f.writes.close())
	f.w, f.writes = nil, nil
	return err
}

func (f *File) Name() string { return "file:" + f.Path }

func (f *File) Fetch(context.Context) ([]byte, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return readLimited(fh)
}

func (f *File) Watch(ctx context.Context, deliver func([]byte), onError func(string, error)) {
	if err := f.Prepare(); err != nil {
		onError("watch", err)
		return
	}
	defer f.Close()
	w, writes := f.w, f.writes
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// The close of a writer comes with no event fsnotify reports, so while one has the file open
	// it is looked at again every recheck.
	recheck := max(f.Debounce, 20*time.Millisecond)
	var openSince time.Time
	reported := false
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			// Any event in the directory may change what Path resolves to; the extension drops
			// documents whose hash it already has.
			timer.Reset(f.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			onError("watch", err)
		case <-timer.C:
			if writes.open() {
				if openSince.IsZero() {
					openSince = time.Now()
				}
				if waited := time.Since(openSince); waited >= openTooLong && !reported {
					reported = true
					onError("read", fmt.Errorf("%s has been open for writing for %v: it is read once the writer closes it", f.Path, waited.Round(time.Second)))
				}
				if f.deferred != nil {
					f.deferred()
				}
				timer.Reset(recheck)
				continue
			}
			openSince, reported = time.Time{}, false
			data, err := f.Fetch(ctx)
			if err != nil {
				// A file removed during a rename comes back with the next event.
				onError("read", err)
				continue
			}
			deliver(data)
		}
	}
}
