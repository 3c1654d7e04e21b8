// Package grpczstd replaces the gRPC "zstd" compressor with one whose decoder refuses frames
// declaring a window above MaxWindow. The decoder otherwise honours any window a frame declares
// (up to 512 MiB in klauspost/compress), so a few kilobytes of crafted zstd sent to an OTLP gRPC
// receiver pin tens of MiB each. Importing the package is enough: it registers at init, and the
// collector's own zstd compressor only registers when none is present, while a later
// registration replaces an earlier one, so this one is in force whichever init runs first.
package grpczstd // import "github.com/sieveobs/sieve/internal/grpczstd"

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// Name is the gRPC content-coding.
const Name = "zstd"

// MaxWindow bounds the decoder's window: OTLP senders use small windows (the collector's own
// encoder uses 512 KiB), and gRPC's message size limit bounds the decoded size anyway.
const MaxWindow = 8 << 20

func init() { encoding.RegisterCompressor(&compressor{}) }

type compressor struct {
	encoders sync.Pool
	decoders sync.Pool
}

func (c *compressor) Name() string { return Name }

func (c *compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	enc, ok := c.encoders.Get().(*zstd.Encoder)
	if !ok {
		var err error
		if enc, err = zstd.NewWriter(w, zstd.WithWindowSize(512<<10), zstd.WithEncoderConcurrency(1)); err != nil {
			return nil, err
		}
	} else {
		enc.Reset(w)
	}
	return &encoder{Encoder: enc, pool: &c.encoders}, nil
}

func (c *compressor) Decompress(r io.Reader) (io.Reader, error) {
	dec, ok := c.decoders.Get().(*zstd.Decoder)
	if !ok {
		var err error
		// Concurrency 1 decodes synchronously: no goroutine is left behind by a reader that
		// is dropped before its end.
		if dec, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxWindow)); err != nil {
			return nil, err
		}
	} else if err := dec.Reset(r); err != nil {
		c.decoders.Put(dec)
		return nil, err
	}
	return &decoder{Decoder: dec, pool: &c.decoders}, nil
}

type encoder struct {
	*zstd.Encoder
	pool *sync.Pool
}

func (e *encoder) Close() error {
	err := e.Encoder.Close()
	e.pool.Put(e.Encoder)
	return err
}

// decoder hands its zstd.Decoder back to the pool once the stream has ended or failed; gRPC
// reads every message to its end.
type decoder struct {
	*zstd.Decoder
	pool     *sync.Pool
	released bool
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.released {
		return 0, io.EOF
	}
	n, err := d.Decoder.Read(p)
	if err != nil {
		d.released = true
		_ = d.Decoder.Reset(nil)
		d.pool.Put(d.Decoder)
	}
	return n, err
}
