//go:build linux

package source

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestOpenWritesFollowsTheWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	o, err := newOpenWrites(dir, "policy.yaml")
	require.NoError(t, err)
	defer o.close()
	require.False(t, o.open())

	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	require.False(t, o.open(), "opened, nothing written yet")
	_, err = fh.WriteString("version: v1\n")
	require.NoError(t, err)
	require.True(t, o.open(), "written and still open")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("x"), 0o600))
	require.True(t, o.open(), "another file's close says nothing about this one")
	require.NoError(t, fh.Close())
	require.False(t, o.open(), "closed by its writer")

	// A writer caught mid-file, then a whole file renamed over it: what is at the path is whole.
	fh, err = os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	defer fh.Close()
	_, err = fh.WriteString("version:")
	require.NoError(t, err)
	require.True(t, o.open())
	tmp := filepath.Join(dir, ".policy.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("version: v2\n"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	require.False(t, o.open())
}

func TestOpenWritesForgetsOnOverflow(t *testing.T) {
	o := &openWrites{name: []byte("policy.yaml"), writing: true}
	ev := make([]byte, unix.SizeofInotifyEvent)
	binary.NativeEndian.PutUint32(ev[4:], unix.IN_Q_OVERFLOW)
	o.apply(ev)
	require.False(t, o.writing, "the close may have been among the lost events")
}

// A writer that truncates the file and pauses mid-file for longer than the debounce: the half
// is never delivered, the whole file is once the writer closes it.
func TestFileWatchWaitsForTheWriterToClose(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o600))
	waits := make(chan struct{}, 1024)
	f := &File{Path: path, Debounce: time.Millisecond, deferred: func() {
		select {
		case waits <- struct{}{}:
		default:
		}
	}}
	require.NoError(t, f.Prepare())
	got := watching(t, f)

	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	_, err = fh.WriteString("default_rate: 0.")
	require.NoError(t, err)
	for range 5 { // five debounce periods ran out with the half on disk
		select {
		case <-waits:
		case <-time.After(5 * time.Second):
			t.Fatal("the watcher never looked at the half-written file")
		}
	}
	_, err = fh.WriteString("5\n")
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	select {
	case v := <-got:
		require.Equal(t, "default_rate: 0.5\n", v, "only the whole file is delivered")
	case <-time.After(5 * time.Second):
		t.Fatal("the closed file was not delivered")
	}
}
