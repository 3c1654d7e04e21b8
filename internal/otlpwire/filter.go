package otlpwire // import "github.com/sieveobs/sieve/internal/otlpwire"

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// LogsDecider decides the records of a logs request.
type LogsDecider interface {
	// DropLog reports whether the record is certainly dropped by the sampler. Anything it is
	// unsure of must return false: the record then reaches the sampler after the normal decode.
	DropLog(res *Resource, rec *LogRecord) bool
}

// LogsFilter removes the records a LogsDecider drops from OTLP ExportLogsServiceRequest bytes.
// It keeps scratch space between calls and is not safe for concurrent use.
type LogsFilter struct {
	rec LogRecord
	d   LogsDecider
	gf  groupFilter
}

// Filter returns req without the records d drops, and without the scope and resource groups
// left empty (as the sampler removes them); kept records and every other field keep their bytes.
// When nothing is dropped req itself is returned. Output is appended to dst.
// On ErrMalformed or an unsupported shape the caller decodes req the normal way.
func (lf *LogsFilter) Filter(dst, req []byte, d LogsDecider) ([]byte, FilterResult, error) {
	lf.d = d
	defer func() { lf.d = nil }()
	return lf.gf.filter(dst, req, lf)
}

func (lf *LogsFilter) decideItem(b []byte, res *Resource) (bool, error) {
	if err := lf.rec.parse(b); err != nil {
		return false, err
	}
	return lf.d.DropLog(res, &lf.rec), nil
}

// itemDecider reads and decides one record or span.
type itemDecider interface {
	decideItem(b []byte, res *Resource) (drop bool, err error)
}

// groupFilter is the request walk shared by logs and traces, whose requests nest alike:
// request{1: resource group{1: resource, 2: scope group{1: scope, 2: item}}}.
type groupFilter struct {
	res  Resource
	drop []bool
	// sizes holds the output size of every scope and resource group in wire order, -1 for a
	// group that loses all its records.
	sizes []int
}

// FilterResult counts the records of one request.
type FilterResult struct {
	// Records is every record in the request; Dropped those the decider dropped.
	Records, Dropped int
}

func (lf *groupFilter) filter(dst, req []byte, d itemDecider) ([]byte, FilterResult, error) {
	lf.drop, lf.sizes = lf.drop[:0], lf.sizes[:0]
	var res FilterResult
	// total is the output's size, so that it is allocated once.
	total := 0
	for b := req; len(b) > 0; {
		f, n, err := next(b)
		if err != nil {
			return nil, res, err
		}
		b = b[n:]
		if f.num != 1 {
			total += n
			continue
		}
		if f.typ != protowire.BytesType {
			return nil, res, ErrMalformed
		}
		at := len(lf.sizes)
		if err := lf.decideResource(f.b, d, &res); err != nil {
			return nil, res, err
		}
		if size := lf.sizes[at]; size >= 0 {
			total += protowire.SizeTag(1) + protowire.SizeBytes(size)
		}
	}
	if res.Dropped == 0 {
		return req, res, nil
	}
	if cap(dst)-len(dst) < total {
		dst = append(make([]byte, 0, len(dst)+total), dst...)
	}
	return lf.rewrite(dst, req), res, nil
}

// rewrite writes the request again from the decisions and sizes of the first pass.
func (lf *groupFilter) rewrite(out, req []byte) []byte {
	ri, di := 0, 0
	for b := req; len(b) > 0; {
		f, n, _ := next(b)
		raw := b[:n]
		b = b[n:]
		if f.num != 1 {
			out = append(out, raw...)
			continue
		}
		size := lf.sizes[ri]
		ri++
		if size >= 0 {
			out = protowire.AppendTag(out, 1, protowire.BytesType)
			out = protowire.AppendVarint(out, uint64(size))
		}
		for rb := f.b; len(rb) > 0; {
			g, m, _ := next(rb)
			graw := rb[:m]
			rb = rb[m:]
			if g.num != 2 {
				if size >= 0 {
					out = append(out, graw...)
				}
				continue
			}
			ssize := lf.sizes[ri]
			ri++
			if ssize < 0 {
				di += countField(g.b, 2)
				continue
			}
			out = protowire.AppendTag(out, 2, protowire.BytesType)
			out = protowire.AppendVarint(out, uint64(ssize))
			for sb := g.b; len(sb) > 0; {
				h, k, _ := next(sb)
				hraw := sb[:k]
				sb = sb[k:]
				if h.num == 2 {
					drop := lf.drop[di]
					di++
					if drop {
						continue
					}
				}
				out = append(out, hraw...)
			}
		}
	}
	return out
}

// Records are numbered in wire order across the request: drop[i] is the i-th record's fate.
// Scope sizes follow their resource's size in lf.sizes.

func (lf *groupFilter) decideResource(rl []byte, d itemDecider, res *FilterResult) error {
	lf.res.attrs.reset()
	lf.res.seq++
	resources := 0
	for b := rl; len(b) > 0; {
		f, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch f.num {
		case 1:
			if f.typ != protowire.BytesType {
				return ErrMalformed
			}
			resources++
			if err := lf.res.parse(f.b); err != nil {
				return err
			}
		case 2:
			if f.typ != protowire.BytesType {
				return ErrMalformed
			}
		case 3:
			if f.typ != protowire.BytesType {
				return ErrMalformed
			}
		case 1000:
			// The deprecated instrumentation_library_* groups: pdata moves them into scope groups.
			return errUnsupported
		}
	}
	if resources > 1 {
		// Two resource fields merge in protobuf; no predicate can read the merged attributes.
		lf.res.attrs.odd = true
	}
	at := len(lf.sizes)
	lf.sizes = append(lf.sizes, 0)
	size := 0
	kept := 0
	for b := rl; len(b) > 0; {
		f, n, _ := next(b)
		if f.num != 2 {
			size += n
			b = b[n:]
			continue
		}
		b = b[n:]
		sat := len(lf.sizes)
		lf.sizes = append(lf.sizes, 0)
		ssize, skept, err := lf.decideScope(f.b, d, res)
		if err != nil {
			return err
		}
		if skept == 0 {
			lf.sizes[sat] = -1
			continue
		}
		lf.sizes[sat] = ssize
		kept += skept
		size += protowire.SizeTag(2) + protowire.SizeBytes(ssize)
	}
	if kept == 0 {
		lf.sizes[at] = -1
	} else {
		lf.sizes[at] = size
	}
	return nil
}

func (lf *groupFilter) decideScope(sl []byte, d itemDecider, res *FilterResult) (size, kept int, err error) {
	for b := sl; len(b) > 0; {
		f, n, err := next(b)
		if err != nil {
			return 0, 0, err
		}
		b = b[n:]
		switch f.num {
		case 1, 3:
			if f.typ != protowire.BytesType {
				return 0, 0, ErrMalformed
			}
			if f.num == 1 {
				if err := validateScope(f.b); err != nil {
					return 0, 0, err
				}
			}
			size += n
		case 2:
			if f.typ != protowire.BytesType {
				return 0, 0, ErrMalformed
			}
			drop, err := d.decideItem(f.b, &lf.res)
			if err != nil {
				return 0, 0, err
			}
			res.Records++
			lf.drop = append(lf.drop, drop)
			if drop {
				res.Dropped++
				continue
			}
			kept++
			size += n
		default:
			size += n
		}
	}
	return size, kept, nil
}

// validateScope checks an InstrumentationScope: name 1, version 2, attributes 3, dropped 4.
func validateScope(b []byte) error {
	var a attrs
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch f.num {
		case 1, 2:
			if f.typ != protowire.BytesType {
				return ErrMalformed
			}
		case 3:
			if f.typ != protowire.BytesType {
				return ErrMalformed
			}
			a.kvs = a.kvs[:0]
			if err := a.add(f.b); err != nil {
				return err
			}
		case 4:
			if f.typ != protowire.VarintType {
				return ErrMalformed
			}
		}
	}
	return nil
}

// countField counts the occurrences of field num in a message.
func countField(b []byte, num protowire.Number) int {
	c := 0
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return c
		}
		b = b[n:]
		if f.num == num {
			c++
		}
	}
	return c
}
