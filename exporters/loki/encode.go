package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"errors"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	contentTypeJSON     = "application/json"
)

// maxPooledBuffer keeps one oversized request from pinning its buffers in
// the pool forever.
const maxPooledBuffer = 16 << 20

var errRequestTooLarge = errors.New("push request too large to compress")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// encodedRequest is a ready-to-send body; release returns its buffers.
type encodedRequest struct {
	body        []byte
	contentType string
	rawSize     int
	bufs        [2]*[]byte
}

func (r *encodedRequest) release() {
	for _, b := range r.bufs {
		if b != nil {
			putBuf(b)
		}
	}
	r.bufs = [2]*[]byte{}
}

// encode serializes tb as protobuf compressed with a snappy block (what
// Loki's push handler expects for application/x-protobuf), or as JSON.
func encode(tb *tenantBatch, format string) (*encodedRequest, error) {
	if format == FormatJSON {
		b := getBuf()
		*b = appendPushJSON((*b)[:0], tb)
		return &encodedRequest{body: *b, contentType: contentTypeJSON, rawSize: len(*b), bufs: [2]*[]byte{b}}, nil
	}
	raw := getBuf()
	*raw = tb.appendProto((*raw)[:0])
	size := len(*raw)
	comp := getBuf()
	maxLen := s2.MaxEncodedLen(size)
	if maxLen < 0 {
		putBuf(raw)
		putBuf(comp)
		return nil, errRequestTooLarge
	}
	if cap(*comp) < maxLen {
		*comp = make([]byte, maxLen)
	}
	// s2.EncodeSnappy emits the plain snappy block format, faster than the
	// snappy package's "better" encoder that trades speed for ratio.
	*comp = s2.EncodeSnappy((*comp)[:maxLen], *raw)
	return &encodedRequest{body: *comp, contentType: contentTypeProtobuf, rawSize: size, bufs: [2]*[]byte{raw, comp}}, nil
}

// appendProto appends tb as a protobuf PushRequest. The entries are already
// encoded: only the stream headers are written here, and each entry is one
// copy, in timestamp order.
func (tb *tenantBatch) appendProto(dst []byte) []byte {
	total := 0
	for i := range tb.streams {
		total += sizeField(tb.streams[i].size())
	}
	dst = slices.Grow(dst, total)
	for i := range tb.streams {
		s := &tb.streams[i]
		dst = append(dst, tagStreams)
		dst = appendVarint(dst, uint64(s.size()))
		dst = appendBytesField(dst, tagLabels, s.selector)
		for _, e := range s.entries {
			dst = append(dst, tagEntries)
			dst = appendVarint(dst, uint64(e.end-e.off))
			dst = append(dst, tb.buf[e.off:e.end]...)
		}
	}
	return dst
}

// size is the size of the Stream message.
func (s *stream) size() int {
	n := 0
	if len(s.selector) > 0 {
		n = sizeField(len(s.selector))
	}
	for _, e := range s.entries {
		n += sizeField(e.end - e.off)
	}
	return n
}
