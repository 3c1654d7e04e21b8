package sinks

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/grafana/loki/pkg/push"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

// lokiPush counts entries of a Loki push request. The ID is looked for in the line first and in
// structured metadata next, so the count works whatever layout the exporter chose.
func (s *Sink) lokiPush(_ http.Header, body []byte, ct string) error {
	var b batch
	if isJSON(ct) {
		var req struct {
			Streams []struct {
				Values [][]json.RawMessage `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return err
		}
		for _, st := range req.Streams {
			for _, v := range st.Values {
				if len(v) < 2 {
					return fmt.Errorf("loki entry with %d fields", len(v))
				}
				var line string
				if err := json.Unmarshal(v[1], &line); err != nil {
					return err
				}
				meta := ""
				if len(v) > 2 {
					meta = string(v[2])
				}
				b.addFromText(line, meta)
			}
		}
	} else {
		raw := body
		var req push.PushRequest
		if err := req.Unmarshal(raw); err != nil {
			return err
		}
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				meta := ""
				for _, l := range e.StructuredMetadata {
					meta += l.Value + " "
				}
				b.addFromText(e.Line, meta)
			}
		}
	}
	s.Loki.commit(&b)
	return nil
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
