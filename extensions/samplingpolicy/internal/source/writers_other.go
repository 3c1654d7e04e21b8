//go:build !linux

package source

// openWrites needs inotify's close event; elsewhere only the debounce guards against reading a
// half-written file.
type openWrites struct{}

func newOpenWrites(string, string) (*openWrites, error) { return &openWrites{}, nil }

func (*openWrites) open() bool { return false }

func (*openWrites) close() error { return nil }
