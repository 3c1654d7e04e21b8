package filestorage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// reserve is disk space held in a file of its own, next to the queue files, for the writes a
// persistent queue makes to keep track of its items. On a full disk those writes fail like any
// other, and exporterhelper's queue then skips the item it was reading: an acknowledged item is
// lost. Giving the space back lets those writes through; until it can be taken again, writes
// that would add items are refused when they would eat into the space given back.
type reserve struct {
	dir, path string
	size      int64
	// allocate and free measure and claim the disk; tests replace them.
	allocate func(path string, size int64) error
	free     func(dir string) (int64, error)

	mu sync.Mutex
	// held: the file exists at its full size. spent: it was given up for bookkeeping and new
	// items are refused until it is held again.
	held, spent bool
}

func newReserve(dir, name string, size int64) *reserve {
	return &reserve{dir: dir, path: filepath.Join(dir, name), size: size, allocate: allocateFile, free: freeBytes}
}

// take claims the reserve if it is not held. Once spent, it only tries when the disk has half
// the reserve to spare on top of it, so that taking it back does not fill the disk again. A
// reserve that cannot be claimed counts as spent: new items are refused until it is held.
func (r *reserve) take() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held || r.size == 0 {
		return nil
	}
	if r.spent {
		avail, err := r.free(r.dir)
		if err != nil {
			return err
		}
		if avail < r.size+r.size/2 {
			return fmt.Errorf("%d bytes free, %d needed", avail, r.size+r.size/2)
		}
	}
	if err := r.allocate(r.path, r.size); err != nil {
		_ = os.Remove(r.path)
		r.spent = true
		return err
	}
	r.held, r.spent = true, false
	return nil
}

// release gives the reserve back to the disk; it reports false when there was nothing to give.
func (r *reserve) release() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held {
		return false, nil
	}
	r.held, r.spent = false, true
	if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// refusing reports whether writes that add items must be refused: the reserve is spent and
// less than half of it is left free on the disk. Items that fit in pages the queue file freed
// as it delivered need no disk, so new data keeps flowing at the rate the queue drains; only
// growing the file into the last half of the reserve is refused.
func (r *reserve) refusing() bool {
	r.mu.Lock()
	spent := r.spent
	r.mu.Unlock()
	if !spent {
		return false
	}
	avail, err := r.free(r.dir)
	return err != nil || avail < r.size/2
}

// isSpent reports whether the reserve was given up and not taken again.
func (r *reserve) isSpent() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spent
}

// allocateFile makes path a file of size bytes backed by real blocks: a sparse file would give
// nothing back when removed.
func allocateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	// A file left by an earlier run with a larger reserve_bytes gives the excess back.
	if fi, err := f.Stat(); err == nil && fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			return errors.Join(err, f.Close())
		}
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		err = writeZeros(f, size)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func writeZeros(f *os.File, size int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil //nolint:gosec // block counts fit in int64
}
