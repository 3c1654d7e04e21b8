package source

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Etcd reads a key and watches it from the revision it read, re-reading and re-watching after
// any break (etcd restart, leader loss, compaction), so no version is missed.
type Etcd struct {
	Client *clientv3.Client
	Key    string
	// MaxBackoff caps the wait between reconnection attempts.
	MaxBackoff time.Duration

	// rev is the revision of the last document read; owned by Fetch/Watch, never concurrent.
	rev int64
}

func (e *Etcd) Name() string { return "etcd:" + e.Key }

func (e *Etcd) Fetch(ctx context.Context) ([]byte, error) {
	resp, err := e.Client.Get(ctx, e.Key)
	if err != nil {
		return nil, err
	}
	e.rev = resp.Header.Revision
	if len(resp.Kvs) == 0 {
		return nil, ErrNoPolicy
	}
	return resp.Kvs[0].Value, nil
}

func (e *Etcd) Watch(ctx context.Context, deliver func([]byte), onError func(string, error)) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		healthy := e.watchOnce(ctx, deliver, onError)
		if ctx.Err() != nil {
			return
		}
		if healthy {
			backoff = 50 * time.Millisecond
		}
		// Re-read before re-watching: updates made while the watch was down arrive here.
		if !e.sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, e.MaxBackoff)
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		data, err := e.Fetch(fctx)
		cancel()
		switch {
		case errors.Is(err, ErrNoPolicy):
			onError("deleted", err)
		case err != nil:
			if ctx.Err() == nil {
				onError("fetch", err)
			}
		default:
			deliver(data)
		}
	}
}

// watchOnce watches until the stream breaks and reports whether it delivered any response.
func (e *Etcd) watchOnce(ctx context.Context, deliver func([]byte), onError func(string, error)) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	healthy := false
	for resp := range e.Client.Watch(wctx, e.Key, clientv3.WithRev(e.rev+1)) {
		if err := resp.Err(); err != nil {
			if !errors.Is(err, rpctypes.ErrCompacted) && ctx.Err() == nil {
				onError("watch", err)
			}
			return healthy
		}
		healthy = true
		for _, ev := range resp.Events {
			e.rev = ev.Kv.ModRevision
			if ev.Type == mvccpb.DELETE {
				onError("deleted", ErrNoPolicy)
				continue
			}
			deliver(ev.Kv.Value)
		}
	}
	return healthy
}

func (e *Etcd) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
