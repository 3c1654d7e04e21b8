// Package source fetches raw policy documents from a file, an HTTP(S) URL or an etcd key.
// Sources only move bytes: parsing, validation and deduplication belong to the extension, so
// every source behaves the same when a document is invalid or unchanged.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

// Source is one origin of policy documents.
type Source interface {
	// Name identifies the source in logs, metrics and /policy (e.g. "file:/etc/policy.yaml").
	Name() string
	// Fetch returns the current document. ErrNotModified means nothing changed since the last one.
	Fetch(ctx context.Context) ([]byte, error)
	// Watch calls deliver with each new document until ctx is done, and onError with each
	// failure and a short reason fit for a metric attribute.
	Watch(ctx context.Context, deliver func([]byte), onError func(reason string, err error))
}

// ErrNotModified reports that the document has not changed since the last fetch.
var ErrNotModified = errors.New("policy not modified")

// ErrNoPolicy reports that the source holds no document (an absent etcd key).
var ErrNoPolicy = errors.New("no policy at the source")

// readLimited reads at most policyfile.MaxSize bytes and refuses anything longer.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, policyfile.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > policyfile.MaxSize {
		return nil, fmt.Errorf("policy larger than %d bytes", policyfile.MaxSize)
	}
	return data, nil
}
