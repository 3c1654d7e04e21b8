package source

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// HTTP polls a URL with If-None-Match, so an unchanged policy costs a 304 and no parsing.
type HTTP struct {
	URL         string
	Client      *http.Client
	Interval    time.Duration
	BearerToken string

	// etag is only touched by Fetch, which the extension never calls concurrently.
	etag string
}

func (h *HTTP) Name() string { return "http:" + h.URL }

func (h *HTTP) Fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, http.NoBody)
	if err != nil {
		return nil, err
	}
	if h.etag != "" {
		req.Header.Set("If-None-Match", h.etag)
	}
	if h.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+h.BearerToken)
	}
	req.Header.Set("Accept", "application/yaml, application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, ErrNotModified
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("GET %s: %s", h.URL, resp.Status)
	}
	data, err := readLimited(resp.Body)
	if err != nil {
		return nil, err
	}
	h.etag = resp.Header.Get("ETag")
	return data, nil
}

func (h *HTTP) Watch(ctx context.Context, deliver func([]byte), onError func(string, error)) {
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := h.Fetch(ctx)
		switch {
		case err == ErrNotModified:
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			onError("fetch", err)
		default:
			deliver(data)
		}
	}
}
