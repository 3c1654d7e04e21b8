//go:build linux

package source

import (
	"bytes"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openWrites tells whether a writer has the policy file open, from the kernel's inotify events
// for its directory: a write to the file comes as IN_MODIFY, the writer's close as
// IN_CLOSE_WRITE. A writer that truncates the file and rewrites it in place may pause for any
// time between the two, and the half it has written may parse (a YAML file cut after
// "default_rate: 0." is a valid policy dropping everything), so the file is not read in between.
// fsnotify, which reports the other changes, does not export the close event.
type openWrites struct {
	fd      int
	name    []byte
	writing bool
	buf     [4096]byte
}

func newOpenWrites(dir, name string) (*openWrites, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	const mask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_DELETE |
		unix.IN_MOVED_FROM | unix.IN_MOVED_TO
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return &openWrites{fd: fd, name: []byte(name)}, nil
}

// open reads the events queued since the last call and reports whether the file has been
// written to and not closed since. The fd is non-blocking: this never waits.
func (o *openWrites) open() bool {
	for {
		n, err := unix.Read(o.fd, o.buf[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n < unix.SizeofInotifyEvent {
			return o.writing // EAGAIN: nothing more queued
		}
		o.apply(o.buf[:n])
	}
}

func (o *openWrites) apply(events []byte) {
	for off := 0; off+unix.SizeofInotifyEvent <= len(events); {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&events[off]))
		nameAt := off + unix.SizeofInotifyEvent
		end := min(nameAt+int(ev.Len), len(events))
		name := bytes.TrimRight(events[nameAt:end], "\x00")
		off = end
		switch {
		case ev.Mask&unix.IN_Q_OVERFLOW != 0:
			// Events were lost: the close may be among them. Fall back to the debounce.
			o.writing = false
		case !bytes.Equal(name, o.name):
		case ev.Mask&unix.IN_MODIFY != 0:
			o.writing = true
		default:
			// Closed after writing, or replaced, created or removed: another file now, or none,
			// and a file put in place by a rename or a link is whole.
			o.writing = false
		}
	}
}

func (o *openWrites) close() error { return unix.Close(o.fd) }
