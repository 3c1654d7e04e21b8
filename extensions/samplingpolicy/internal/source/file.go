package source

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// File reads a local file and watches its directory, so editors that replace the file by a
// rename and Kubernetes ConfigMap symlink swaps are both seen.
type File struct {
	Path string
	// Debounce waits for writes to settle, so a file read mid-write is not refused as invalid.
	Debounce time.Duration

	w *fsnotify.Watcher
}

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
	f.w = w
	return nil
}

// Close stops the watch; Watch calls it when it returns.
func (f *File) Close() error {
	if f.w == nil {
		return nil
	}
	err := f.w.Close()
	f.w = nil
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
	w := f.w
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
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
