package otlp // import "github.com/sieveobs/sieve/receivers/otlp"

import "sync"

// maxPooled is the largest buffer kept for reuse: a rare huge request should not pin its size in
// the pool; the common ones are tens of KiB.
const maxPooled = 4 << 20

// scratchPool holds the buffers that rewritten requests are written into. pdata copies every
// string and byte slice it decodes, so a buffer is free again once its request is decoded, and a
// receiver at a steady rate allocates no request-sized garbage for them. HTTP bodies are read
// with io.ReadAll, as upstream does: reading them into pooled buffers made the hostile suite's
// compression bombs grow the gateway by 243-287 MiB instead of 165-213.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

func getScratch() *[]byte { return scratchPool.Get().(*[]byte) }

// putScratch returns a buffer to the pool; used is what was written into it (it may have been
// grown into a new array), nil when nothing was.
func putScratch(p *[]byte, used []byte) {
	if p == nil {
		return
	}
	if cap(used) > cap(*p) {
		*p = used
	}
	if cap(*p) > maxPooled {
		return
	}
	*p = (*p)[:0]
	scratchPool.Put(p)
}
