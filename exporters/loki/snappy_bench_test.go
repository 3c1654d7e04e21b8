package loki

import (
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	ksnappy "github.com/klauspost/compress/snappy"
)

// BenchmarkSnappyEncoders compares the snappy block encoders on a pipelineLogs request: the
// exporter uses the fastest. (github.com/golang/snappy's Encode, measured the same way, ran at half
// s2.EncodeSnappy's speed for a lower ratio.)
func BenchmarkSnappyEncoders(b *testing.B) {
	c := newConverter(testConfig(), time.Now)
	var st convertStats
	raw := c.convert(pipelineLogs(10_000), &st)[0].appendProto(nil)
	dst := make([]byte, s2.MaxEncodedLen(len(raw)))
	for _, enc := range []struct {
		name string
		f    func(dst, src []byte) []byte
	}{
		{"s2.EncodeSnappy", s2.EncodeSnappy},
		{"s2.EncodeSnappyBetter", s2.EncodeSnappyBetter},
		{"klauspost/snappy.Encode", ksnappy.Encode},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			var n int
			for b.Loop() {
				n = len(enc.f(dst, raw))
			}
			b.ReportMetric(float64(len(raw))/float64(n), "ratio")
		})
	}
}
