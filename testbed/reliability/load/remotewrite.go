package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// RemoteWrite is a Prometheus remote-write endpoint (1.0 and 2.0) that counts samples by the
// load generator's ID. The shared sink counts remote-write samples in bulk, which cannot tell a
// lost point made up for by a duplicate; here every data point carries its ID as the
// sieve_test_id label, so each one is checked individually.
type RemoteWrite struct {
	// URL is the push URL to give the exporter.
	URL string
	// Points counts samples by ID; series without an ID (target_info, the span latency
	// histograms) count as NoID.
	Points IDCounter

	mu       sync.Mutex
	stale    uint64
	failures []string
	srv      *http.Server
	done     chan struct{}
}

// StartRemoteWrite listens on a free loopback port.
func StartRemoteWrite() (*RemoteWrite, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rw := &RemoteWrite{URL: "http://" + ln.Addr().String() + "/api/v1/write", done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/write", rw.handle)
	rw.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(rw.done)
		_ = rw.srv.Serve(ln)
	}()
	return rw, nil
}

// Close stops the server.
func (rw *RemoteWrite) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := rw.srv.Shutdown(ctx)
	<-rw.done
	return err
}

// StaleMarkers counts staleness markers (Sieve ends series that stopped reporting): they are
// not data points and are left out of the ID counts.
func (rw *RemoteWrite) StaleMarkers() uint64 {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.stale
}

// DecodeFailures returns up to ten messages about requests that could not be decoded.
func (rw *RemoteWrite) DecodeFailures() []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]string(nil), rw.failures...)
}

func (rw *RemoteWrite) fail(w http.ResponseWriter, err error) {
	rw.mu.Lock()
	if len(rw.failures) < 10 {
		rw.failures = append(rw.failures, err.Error())
	}
	rw.mu.Unlock()
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func (rw *RemoteWrite) handle(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		rw.fail(w, err)
		return
	}
	body, err := snappy.Decode(nil, raw)
	if err != nil {
		rw.fail(w, fmt.Errorf("snappy: %w", err))
		return
	}
	var b IDBatch
	var stale uint64
	if strings.Contains(r.Header.Get("Content-Type"), "io.prometheus.write.v2.Request") {
		var req writev2.Request
		if err := req.Unmarshal(body); err != nil {
			rw.fail(w, err)
			return
		}
		var samples, hists int
		for _, ts := range req.Timeseries {
			id := ""
			for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
				if v := req.Symbols[ts.LabelsRefs[i+1]]; strings.HasPrefix(v, "sid-") {
					id = v
				}
			}
			samples += len(ts.Samples)
			hists += len(ts.Histograms)
			for _, s := range ts.Samples {
				if value.IsStaleNaN(s.Value) {
					stale++
					continue
				}
				b.Add(id)
			}
			for range ts.Histograms {
				b.Add(id)
			}
		}
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", fmt.Sprint(samples))
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", fmt.Sprint(hists))
		w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
	} else {
		var req prompb.WriteRequest
		if err := req.Unmarshal(body); err != nil {
			rw.fail(w, err)
			return
		}
		for _, ts := range req.Timeseries {
			id := ""
			for _, l := range ts.Labels {
				if strings.HasPrefix(l.Value, "sid-") {
					id = l.Value
				}
			}
			for _, s := range ts.Samples {
				if value.IsStaleNaN(s.Value) {
					stale++
					continue
				}
				b.Add(id)
			}
			for range ts.Histograms {
				b.Add(id)
			}
		}
	}
	rw.Points.Commit(&b)
	rw.mu.Lock()
	rw.stale += stale
	rw.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// IDBatch collects the IDs of one request so the counter's lock is taken once per request.
type IDBatch struct {
	ids  []idEntry
	noID uint64
}

type idEntry struct {
	class loadgen.Class
	n     uint64
}

// Add records one item by its ID value; values that are not IDs count as items without ID.
func (b *IDBatch) Add(v string) {
	if c, n, ok := loadgen.ParseID(v); ok {
		b.ids = append(b.ids, idEntry{c, n})
		return
	}
	b.noID++
}

// IDCounter counts items by ID like the shared sink's counters: one bit per dense ID and class.
type IDCounter struct {
	mu    sync.Mutex
	seen  map[loadgen.Class][]uint64
	uniq  map[loadgen.Class]uint64
	dups  map[loadgen.Class]uint64
	noID  uint64
	items uint64
	reqs  uint64
}

// Commit adds a request's IDs.
func (c *IDCounter) Commit(b *IDBatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[loadgen.Class][]uint64{}
		c.uniq = map[loadgen.Class]uint64{}
		c.dups = map[loadgen.Class]uint64{}
	}
	c.reqs++
	c.noID += b.noID
	c.items += b.noID + uint64(len(b.ids))
	for _, e := range b.ids {
		set, dup := sinks.MarkID(c.seen[e.class], e.n)
		c.seen[e.class] = set
		if dup {
			c.dups[e.class]++
			continue
		}
		c.uniq[e.class]++
	}
}

// Snapshot returns the counts in the shared sink's form.
func (c *IDCounter) Snapshot() sinks.Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := sinks.Counts{Unique: map[loadgen.Class]uint64{}, Duplicates: map[loadgen.Class]uint64{},
		NoID: c.noID, Items: c.items, Requests: c.reqs}
	for k, v := range c.uniq {
		s.Unique[k] = v
	}
	for k, v := range c.dups {
		s.Duplicates[k] = v
	}
	return s
}
