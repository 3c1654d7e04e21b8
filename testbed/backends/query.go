package backends

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Sample is one series of an instant query result (Prometheus or a LogQL metric query).
type Sample struct {
	Metric map[string]string
	Time   time.Time
	// Value is the float value; NaN when the series holds a native histogram.
	Value float64
	// Histogram is set when the series holds a native histogram.
	Histogram *NativeHistogram
}

// NativeHistogram is the query API's view of a native histogram sample.
type NativeHistogram struct {
	Count   float64
	Sum     float64
	Buckets []NativeBucket
}

// NativeBucket is one bucket of a native histogram as the query API renders it.
type NativeBucket struct {
	Lower, Upper float64
	Count        float64
}

type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric    map[string]string `json:"metric"`
			Value     []json.RawMessage `json:"value"`
			Histogram []json.RawMessage `json:"histogram"`
		} `json:"result"`
	} `json:"data"`
}

func (r *promResponse) samples() ([]Sample, error) {
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query returned %q, want vector", r.Data.ResultType)
	}
	out := make([]Sample, 0, len(r.Data.Result))
	for _, res := range r.Data.Result {
		s := Sample{Metric: res.Metric}
		switch {
		case len(res.Value) == 2:
			ts, v, err := parsePoint(res.Value)
			if err != nil {
				return nil, err
			}
			s.Time, s.Value = ts, v
		case len(res.Histogram) == 2:
			var ts float64
			if err := json.Unmarshal(res.Histogram[0], &ts); err != nil {
				return nil, err
			}
			var h struct {
				Count   string              `json:"count"`
				Sum     string              `json:"sum"`
				Buckets [][]json.RawMessage `json:"buckets"`
			}
			if err := json.Unmarshal(res.Histogram[1], &h); err != nil {
				return nil, err
			}
			nh := &NativeHistogram{}
			var err error
			if nh.Count, err = strconv.ParseFloat(h.Count, 64); err != nil {
				return nil, err
			}
			if nh.Sum, err = strconv.ParseFloat(h.Sum, 64); err != nil {
				return nil, err
			}
			for _, b := range h.Buckets {
				// [boundary_rule, lower, upper, count], the three numbers as strings.
				if len(b) != 4 {
					return nil, fmt.Errorf("native bucket of %d elements", len(b))
				}
				var vals [3]float64
				for i := range 3 {
					var str string
					if err := json.Unmarshal(b[i+1], &str); err != nil {
						return nil, err
					}
					if vals[i], err = strconv.ParseFloat(str, 64); err != nil {
						return nil, err
					}
				}
				nh.Buckets = append(nh.Buckets, NativeBucket{Lower: vals[0], Upper: vals[1], Count: vals[2]})
			}
			s.Time = time.Unix(0, int64(ts*1e9))
			s.Histogram = nh
		default:
			return nil, fmt.Errorf("result without value or histogram")
		}
		out = append(out, s)
	}
	return out, nil
}

func parsePoint(p []json.RawMessage) (time.Time, float64, error) {
	var ts float64
	if err := json.Unmarshal(p[0], &ts); err != nil {
		return time.Time{}, 0, fmt.Errorf("timestamp: %w", err)
	}
	var str string
	if err := json.Unmarshal(p[1], &str); err != nil {
		return time.Time{}, 0, fmt.Errorf("value: %w", err)
	}
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("value %q: %w", str, err)
	}
	return time.Unix(0, int64(ts*1e9)), v, nil
}

var queryClient = &http.Client{Timeout: 30 * time.Second}

func doJSON(req *http.Request, into any) error {
	resp, err := queryClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, resp.StatusCode, truncate(string(body), 500))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s: decode: %w", req.URL.Path, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
