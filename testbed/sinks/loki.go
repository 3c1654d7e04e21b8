package sinks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/grafana/loki/pkg/push"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

// lokiPush counts entries of a Loki push request. The ID is looked for in the line first and in
// structured metadata next, so the count works whatever layout the exporter chose.
func (s *Sink) lokiPush(h http.Header, body []byte, ct string) error {
	if isJSON(ct) {
		var req struct {
			Streams []struct {
				Stream map[string]string   `json:"stream"`
				Values [][]json.RawMessage `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return err
		}
		var b batch
		check := s.contentCheck()
		for _, st := range req.Streams {
			key := jsonStreamKey(st.Stream)
			for _, v := range st.Values {
				if len(v) < 2 {
					return fmt.Errorf("loki entry with %d fields", len(v))
				}
				var line, tsText string
				if err := json.Unmarshal(v[1], &line); err != nil {
					return err
				}
				// Order is only judged on timestamps in Loki's documented form (a string of
				// nanoseconds); anything else is still counted.
				ts, tsErr := int64(0), json.Unmarshal(v[0], &tsText)
				if tsErr == nil {
					ts, tsErr = strconv.ParseInt(tsText, 10, 64)
				}
				meta := ""
				var metaMap map[string]string
				if len(v) > 2 {
					meta = string(v[2])
					_ = json.Unmarshal(v[2], &metaMap)
				}
				n0 := len(b.ids)
				b.addFromText(line, meta)
				if tsErr == nil {
					b.order(key, ts)
				}
				if check != nil && len(b.ids) > n0 {
					s.checkLoki(check, b.ids[n0], st.Stream, ts, line, metaMap)
				}
			}
		}
		s.Loki.commit(&b)
		setItems(h, len(b.ids)+int(b.noID))
		return nil
	}
	var req push.PushRequest
	if err := req.Unmarshal(body); err != nil {
		return err
	}
	setItems(h, s.lokiCount(&req))
	return nil
}

// lokiCount counts a decoded protobuf push request and returns its number of entries.
func (s *Sink) lokiCount(req *push.PushRequest) int {
	var b batch
	check := s.contentCheck()
	for _, st := range req.Streams {
		var labels map[string]string
		if check != nil {
			var err error
			if labels, err = ParseLokiLabels(st.Labels); err != nil {
				s.noteContent(err)
			}
		}
		for _, e := range st.Entries {
			n0 := len(b.ids)
			b.addFromText(e.Line, metadataText(e.StructuredMetadata))
			b.order(st.Labels, e.Timestamp.UnixNano())
			if check != nil && len(b.ids) > n0 {
				meta := make(map[string]string, len(e.StructuredMetadata))
				for _, l := range e.StructuredMetadata {
					meta[l.Name] = l.Value
				}
				s.checkLoki(check, b.ids[n0], labels, e.Timestamp.UnixNano(), e.Line, meta)
			}
		}
	}
	s.Loki.commit(&b)
	return len(b.ids) + int(b.noID)
}

// checkLoki runs the content check on one entry.
func (s *Sink) checkLoki(check ContentCheck, id idEntry, labels map[string]string, ts int64, line string, meta map[string]string) {
	if err := check(Item{Class: id.class, N: id.n, Labels: labels, Timestamp: ts, Line: line, Metadata: meta}); err != nil {
		s.noteContent(err)
	}
}

func jsonStreamKey(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + "\xfe" + m[k] + "\xff")
	}
	return b.String()
}

func (b *batch) addFromText(texts ...string) {
	for _, t := range texts {
		if c, n, ok := loadgen.FirstID([]byte(t)); ok {
			b.ids = append(b.ids, idEntry{c, n})
			return
		}
	}
	b.noID++
}
