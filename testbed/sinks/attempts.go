package sinks

import (
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

// Attempt is one HTTP request as the sink saw it, refused or not. Fault tests read the log to
// check how a collector retried: when, how often, and whether it sent the same body again.
type Attempt struct {
	// At is when the request arrived; Answered when the response was written (equal to At
	// plus any injected latency).
	At, Answered time.Time
	Path         string
	// Status is the HTTP status answered; 0 when the connection was closed without an answer
	// (Faults.Down).
	Status int
	// Body fingerprints the request body as received: a retry of the same request has the same
	// fingerprint, a new request a different one (bodies carry unique item IDs).
	Body uint64
	// Items counts the Loki entries or remote-write samples and histograms of the body; zero
	// for other paths and for bodies that could not be decoded.
	Items int
	// Ignored counts the entries a partial rejection (Faults.Partial) left out.
	Ignored int
}

// attemptLog is off until KeepAttempts: hashing every body costs the benchmarks CPU they do
// not need to spend.
type attemptLog struct {
	mu       sync.Mutex
	on       bool
	attempts []Attempt
}

var bodySeed = maphash.MakeSeed()

// KeepAttempts starts recording every HTTP request in the attempt log.
func (s *Sink) KeepAttempts() {
	s.attemptLog.mu.Lock()
	s.attemptLog.on = true
	s.attemptLog.mu.Unlock()
}

// Attempts returns the HTTP requests recorded since KeepAttempts, in arrival order.
func (s *Sink) Attempts() []Attempt {
	s.attemptLog.mu.Lock()
	defer s.attemptLog.mu.Unlock()
	out := append([]Attempt(nil), s.attemptLog.attempts...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func (s *Sink) keepingAttempts() bool {
	s.attemptLog.mu.Lock()
	defer s.attemptLog.mu.Unlock()
	return s.attemptLog.on
}

func (s *Sink) noteAttempt(a Attempt) {
	s.attemptLog.mu.Lock()
	if s.attemptLog.on {
		s.attemptLog.attempts = append(s.attemptLog.attempts, a)
	}
	s.attemptLog.mu.Unlock()
}

func fingerprint(b []byte) uint64 { return maphash.Bytes(bodySeed, b) }

// Item is one delivered Loki entry or remote-write sample, handed to the content check.
type Item struct {
	Class loadgen.Class
	N     uint64
	// Labels are the Loki stream labels or the remote-write series labels (with __name__).
	Labels map[string]string
	// Timestamp is in nanoseconds for Loki entries and milliseconds for remote-write samples.
	Timestamp int64
	// Line and Metadata are the Loki entry's line and structured metadata.
	Line     string
	Metadata map[string]string
	// Value is the remote-write sample value.
	Value float64
}

// ContentCheck returns an error when a delivered item differs from what was sent.
type ContentCheck func(Item) error

type contentState struct {
	mu     sync.Mutex
	check  ContentCheck
	bad    uint64
	errors []string
}

// SetContentCheck makes the sink call f for every Loki entry and remote-write sample carrying
// an ID, before counting it; nil turns the check off. f must be safe for concurrent use.
func (s *Sink) SetContentCheck(f ContentCheck) {
	s.content.mu.Lock()
	s.content.check = f
	s.content.mu.Unlock()
}

// ContentErrors returns the number of items the content check refused and up to ten messages.
func (s *Sink) ContentErrors() (uint64, []string) {
	s.content.mu.Lock()
	defer s.content.mu.Unlock()
	return s.content.bad, append([]string(nil), s.content.errors...)
}

func (s *Sink) contentCheck() ContentCheck {
	s.content.mu.Lock()
	defer s.content.mu.Unlock()
	return s.content.check
}

func (s *Sink) noteContent(err error) {
	s.content.mu.Lock()
	s.content.bad++
	if len(s.content.errors) < 10 {
		s.content.errors = append(s.content.errors, err.Error())
	}
	s.content.mu.Unlock()
}

// ParseLokiLabels reads a stream selector as Loki push requests carry it: {a="x", b="y"}.
func ParseLokiLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	rest := strings.TrimSpace(s)
	if !strings.HasPrefix(rest, "{") || !strings.HasSuffix(rest, "}") {
		return nil, fmt.Errorf("stream labels %q: not a selector", s)
	}
	rest = strings.TrimSpace(rest[1 : len(rest)-1])
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("stream labels %q: missing '='", s)
		}
		name := strings.TrimSpace(rest[:eq])
		rest = strings.TrimSpace(rest[eq+1:])
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("stream labels %q: %w", s, err)
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			return nil, fmt.Errorf("stream labels %q: %w", s, err)
		}
		out[name] = v
		rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest[len(q):]), ","))
	}
	return out, nil
}

// partialBody is what Loki answers when some entries of a push fail validation: one line per
// stream, each ending with the count the exporter parses.
func partialBody(ignored map[string][2]int) string {
	keys := make([]string, 0, len(ignored))
	for k := range ignored {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		n := ignored[k]
		fmt.Fprintf(&b, "entry for stream '%s' has timestamp too old, oldest acceptable timestamp is: %s,\nuser 'fake', total ignored: %d out of %d for stream: %s\n",
			k, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), n[0], n[1], k)
	}
	return b.String()
}

// countItems decodes a refused request enough to count its items and remember their IDs in
// Rejected, so a test can tell refused items from lost ones.
func (s *Sink) countItems(path string, body []byte, ct string) int {
	switch path {
	case "/loki/api/v1/push":
		if isJSON(ct) {
			return 0
		}
		var req push.PushRequest
		if req.Unmarshal(body) != nil {
			return 0
		}
		var b batch
		n := 0
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				b.addFromText(e.Line, metadataText(e.StructuredMetadata))
				n++
			}
		}
		s.Rejected.commit(&b)
		return n
	case "/api/v1/write":
		var b batch
		n := 0
		if strings.Contains(ct, rw2ContentType) {
			var req writev2.Request
			if req.Unmarshal(body) != nil {
				return 0
			}
			for _, ts := range req.Timeseries {
				n += len(ts.Samples) + len(ts.Histograms)
				for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
					if int(ts.LabelsRefs[i+1]) < len(req.Symbols) {
						addLabelID(&b, req.Symbols[ts.LabelsRefs[i+1]], len(ts.Samples)+len(ts.Histograms))
					}
				}
			}
		} else {
			var req prompb.WriteRequest
			if req.Unmarshal(body) != nil {
				return 0
			}
			for _, ts := range req.Timeseries {
				n += len(ts.Samples) + len(ts.Histograms)
				for _, l := range ts.Labels {
					addLabelID(&b, l.Value, len(ts.Samples)+len(ts.Histograms))
				}
			}
		}
		s.Rejected.commit(&b)
		return n
	}
	return 0
}

func addLabelID(b *batch, v string, n int) {
	if c, id, ok := loadgen.ParseID(v); ok {
		for range n {
			b.ids = append(b.ids, idEntry{c, id})
		}
	}
}

func metadataText(sm push.LabelsAdapter) string {
	var b strings.Builder
	for _, l := range sm {
		b.WriteString(l.Value)
		b.WriteByte(' ')
	}
	return b.String()
}

// refuse answers an injected fault. For a partial rejection of a Loki push it stores the
// entries it keeps, as Loki does, and reports the others in Loki's words.
func (s *Sink) refuse(w http.ResponseWriter, r *http.Request, f Faults, code int, at time.Time) {
	raw, _ := readAll(r)
	var body []byte
	if raw != nil {
		body, _ = decompress(r.Header.Get("Content-Encoding"), raw, r.URL.Path, r.Header.Get("Content-Type"))
	}
	a := Attempt{At: at, Path: r.URL.Path, Status: code, Body: fingerprint(raw)}
	if f.Partial > 0 && code == http.StatusBadRequest && r.URL.Path == "/loki/api/v1/push" && body != nil && !isJSON(r.Header.Get("Content-Type")) {
		if items, ignored, msg, ok := s.lokiPartial(body, f.Partial); ok {
			a.Items, a.Ignored = items, ignored
			s.countBytes(r.URL.Path, uint64(len(raw)))
			http.Error(w, msg, code)
			a.Answered = time.Now()
			s.noteAttempt(a)
			return
		}
	}
	if body != nil {
		a.Items = s.countItems(r.URL.Path, body, r.Header.Get("Content-Type"))
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	http.Error(w, "injected fault", code)
	a.Answered = time.Now()
	s.noteAttempt(a)
}

// lokiPartial stores all but a fraction p of the entries (evenly spread) and returns Loki's
// answer for the ignored ones.
func (s *Sink) lokiPartial(body []byte, p float64) (items, ignored int, msg string, ok bool) {
	var req push.PushRequest
	if req.Unmarshal(body) != nil {
		return 0, 0, "", false
	}
	kept := push.PushRequest{}
	var rejected batch
	perStream := map[string][2]int{}
	k := 0
	for _, st := range req.Streams {
		ks := push.Stream{Labels: st.Labels}
		for _, e := range st.Entries {
			drop := ceil(float64(k+1)*p) > ceil(float64(k)*p)
			k++
			if drop {
				rejected.addFromText(e.Line, metadataText(e.StructuredMetadata))
				c := perStream[st.Labels]
				c[0]++
				perStream[st.Labels] = c
				continue
			}
			ks.Entries = append(ks.Entries, e)
		}
		if c, hit := perStream[st.Labels]; hit {
			c[1] = len(st.Entries)
			perStream[st.Labels] = c
		}
		if len(ks.Entries) > 0 {
			kept.Streams = append(kept.Streams, ks)
		}
	}
	s.Rejected.commit(&rejected)
	s.lokiCount(&kept)
	return k, len(rejected.ids) + int(rejected.noID), partialBody(perStream), true
}

func ceil(f float64) float64 {
	n := float64(int64(f))
	if n < f {
		return n + 1
	}
	return n
}

// itemsHeader carries a decoded request's item count from the decoder to the attempt log; it is
// removed before the response is written.
const itemsHeader = "X-Sieve-Sink-Items"

func setItems(h http.Header, n int) { h.Set(itemsHeader, strconv.Itoa(n)) }

func itemsOf(h http.Header) int {
	n, _ := strconv.Atoi(h.Get(itemsHeader))
	return n
}

func readAll(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return b, nil
}
