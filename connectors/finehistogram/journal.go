package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The journal keeps every request consumed since the last flush that the next pipeline accepted,
// in a storage extension. A span is acknowledged to its sender once it is counted in memory; the
// histogram holding it reaches the exporter's persistent queue only at the next flush. Without
// the journal a crash (SIGKILL, OOM kill) between the two loses what was counted since the last
// flush although the sender was told it was delivered. At start the journal is replayed, so those
// requests are counted again; a flush accepted downstream removes what it covered.
//
// Keys: journalHead and journalTail hold the sequence numbers of the next entry and of the oldest
// one still kept; each entry is stored under entryKey(seq) as a kind byte and the request's OTLP
// protobuf encoding.
const (
	journalHead = "fine_histogram.head"
	journalTail = "fine_histogram.tail"

	entryTraces  byte = 't'
	entryLogs    byte = 'l'
	entryMetrics byte = 'm'
)

// truncateBatch bounds the deletions of one storage transaction.
const truncateBatch = 1024

func entryKey(seq uint64) string { return fmt.Sprintf("fine_histogram.%016x", seq) }

type journal struct {
	client storage.Client
	// head is the sequence number of the next entry; guarded by the connector's mu, which also
	// orders appends with the flush that reads head.
	head uint64
	// tail is the oldest entry still kept; only the flush path (one at a time) changes it.
	tail uint64
}

var (
	errNoStorage  = errors.New("not a storage extension")
	errBadJournal = errors.New("malformed journal entry")
)

// openJournal gets the connector's client from the storage extension and reads the bounds.
func openJournal(ctx context.Context, host component.Host, storageID, self component.ID) (*journal, error) {
	ext, ok := host.GetExtensions()[storageID]
	if !ok {
		return nil, fmt.Errorf("storage: extension %q not found", storageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q: %w", storageID, errNoStorage)
	}
	client, err := se.GetClient(ctx, component.KindConnector, self, "")
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	j := &journal{client: client}
	for _, b := range []struct {
		key  string
		into *uint64
	}{{journalHead, &j.head}, {journalTail, &j.tail}} {
		v, err := client.Get(ctx, b.key)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("storage: read %s: %w", b.key, err), client.Close(ctx))
		}
		if len(v) == 8 {
			*b.into = binary.BigEndian.Uint64(v)
		}
	}
	if j.tail > j.head {
		j.tail = j.head
	}
	return j, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// append stores one entry (kind byte, then data); the caller holds the connector's mu.
func (j *journal) append(ctx context.Context, entry []byte) error {
	err := j.client.Batch(ctx,
		storage.SetOperation(entryKey(j.head), entry),
		storage.SetOperation(journalHead, u64(j.head+1)))
	if err != nil {
		return err
	}
	j.head++
	return nil
}

// truncate removes the entries before upTo, which a flush accepted downstream covered.
func (j *journal) truncate(ctx context.Context, upTo uint64) error {
	for j.tail < upTo {
		end := min(upTo, j.tail+truncateBatch)
		ops := make([]*storage.Operation, 0, end-j.tail+1)
		for s := j.tail; s < end; s++ {
			ops = append(ops, storage.DeleteOperation(entryKey(s)))
		}
		ops = append(ops, storage.SetOperation(journalTail, u64(end)))
		if err := j.client.Batch(ctx, ops...); err != nil {
			return err
		}
		j.tail = end
	}
	return nil
}

// replay hands every kept entry to fn in order. An entry that cannot be read is skipped and
// counted by the caller through the returned number.
func (j *journal) replay(ctx context.Context, fn func(kind byte, data []byte) error) (replayed, bad int, err error) {
	for s := j.tail; s < j.head; s++ {
		v, err := j.client.Get(ctx, entryKey(s))
		if err != nil {
			return replayed, bad, err
		}
		if len(v) < 1 {
			// Not written: the process ended between numbering and writing it.
			continue
		}
		if err := fn(v[0], v[1:]); err != nil {
			bad++
			continue
		}
		replayed++
	}
	return replayed, bad, nil
}

func (j *journal) close(ctx context.Context) error { return j.client.Close(ctx) }

var (
	tracesMarshaler   ptrace.ProtoMarshaler
	tracesUnmarshaler ptrace.ProtoUnmarshaler
	logsMarshaler     plog.ProtoMarshaler
	logsUnmarshaler   plog.ProtoUnmarshaler
	metricsMarshaler  pmetric.ProtoMarshaler
	metricsUnmarsh    pmetric.ProtoUnmarshaler
)

// dedupSet remembers the hashes of the last n requests counted (a ring and a set), so that a
// resent request is recognised; n = 0 remembers none. The ring and the set grow with the
// requests seen up to n, so an idle or lightly used connector does not hold n entries (about
// 2.3 MiB at the default 65,536).
type dedupSet struct {
	n    int
	ring []uint64
	next int
	set  map[uint64]int // hash -> occurrences in the ring
}

func newDedupSet(n int) *dedupSet {
	return &dedupSet{n: n, set: map[uint64]int{}}
}

func (d *dedupSet) contains(h uint64) bool { return d.set[h] > 0 }

func (d *dedupSet) add(h uint64) {
	if d.n == 0 {
		return
	}
	d.set[h]++
	if len(d.ring) < d.n {
		d.ring = append(d.ring, h)
		return
	}
	old := d.ring[d.next]
	if d.set[old]--; d.set[old] <= 0 {
		delete(d.set, old)
	}
	d.ring[d.next] = h
	d.next = (d.next + 1) % d.n
}
