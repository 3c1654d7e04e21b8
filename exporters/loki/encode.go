package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"errors"
	"sync"

	"github.com/grafana/loki/pkg/push"
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
		*b = appendPushJSON((*b)[:0], &tb.req, tb.labels)
		return &encodedRequest{body: *b, contentType: contentTypeJSON, rawSize: len(*b), bufs: [2]*[]byte{b}}, nil
	}
	raw := getBuf()
	size := tb.req.Size()
	if cap(*raw) < size {
		*raw = make([]byte, size)
	}
	*raw = (*raw)[:size]
	if err := marshalPushRequest(*raw, &tb.req); err != nil {
		putBuf(raw)
		return nil, err
	}
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

// marshalPushRequest writes req into dst, which must be exactly req.Size()
// bytes. It produces the same bytes as PushRequest.MarshalToSizedBuffer, which
// sizes every stream twice more on top of the Size call made for dst.
func marshalPushRequest(dst []byte, req *push.PushRequest) error {
	i := len(dst)
	for s := len(req.Streams) - 1; s >= 0; s-- {
		n, err := req.Streams[s].MarshalToSizedBuffer(dst[:i])
		if err != nil {
			return err
		}
		i -= n
		i = putUvarintBackward(dst, i, uint64(n))
		i--
		dst[i] = 0xa // field 1 (streams), wire type 2
	}
	if i != 0 {
		return errors.New("push request size changed while marshalling")
	}
	return nil
}

// putUvarintBackward writes v as a varint ending at dst[i-1] and returns the
// new start, mirroring gogo's backward marshalling.
func putUvarintBackward(dst []byte, i int, v uint64) int {
	i -= sovUvarint(v)
	base := i
	for v >= 1<<7 {
		dst[i] = byte(v&0x7f | 0x80)
		v >>= 7
		i++
	}
	dst[i] = byte(v)
	return base
}

func sovUvarint(v uint64) int {
	n := 1
	for v >= 1<<7 {
		v >>= 7
		n++
	}
	return n
}
