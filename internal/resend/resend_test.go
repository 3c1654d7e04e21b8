package resend

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

func TestQueue(t *testing.T) {
	q := New[string](10)
	require.False(t, q.Waiting())
	require.True(t, q.Add([]byte("aaaa"), 2, "a"))
	require.True(t, q.Add([]byte("bbbb"), 3, "b"))
	require.False(t, q.Add([]byte("ccc"), 1, "c"), "past maxBytes")
	require.True(t, q.Waiting())
	items, bytes := q.Held()
	require.EqualValues(t, 5, items)
	require.EqualValues(t, 8, bytes)

	// A retryable refusal stops the round and keeps everything.
	var done []string
	record := func(m string, n int64, err error) { done = append(done, m) }
	require.False(t, q.Retry(func([]byte) error { return errors.New("queue full") }, record))
	require.Empty(t, done)
	items, _ = q.Held()
	require.EqualValues(t, 5, items)

	// Oldest first; a permanent refusal is reported and removed, then the round goes on.
	var errs []error
	drained := q.Retry(func(b []byte) error {
		if string(b) == "aaaa" {
			return consumererror.NewPermanent(errors.New("bad"))
		}
		return nil
	}, func(m string, n int64, err error) { done = append(done, m); errs = append(errs, err) })
	require.True(t, drained, "the queue held batches and is empty now")
	require.False(t, q.Retry(func([]byte) error { return nil }, record), "nothing to drain")
	require.Equal(t, []string{"a", "b"}, done)
	require.True(t, consumererror.IsPermanent(errs[0]))
	require.NoError(t, errs[1])
	require.False(t, q.Waiting())
	items, bytes = q.Held()
	require.Zero(t, items)
	require.Zero(t, bytes)

	require.True(t, q.Add([]byte("dd"), 4, "d"))
	var lost []string
	q.Drop(func(m string, n int64) { lost = append(lost, m); require.EqualValues(t, 4, n) })
	require.Equal(t, []string{"d"}, lost)
	require.False(t, q.Waiting())
}

func TestOffer(t *testing.T) {
	q := New[int](10)
	enc := func(b string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(b), nil } }
	calls := 0
	ok := func() error { calls++; return nil }
	full := func() error { calls++; return errors.New("queue full") }

	out, err := q.Offer(ok, enc("a"), 1, 1)
	require.Equal(t, Sent, out)
	require.NoError(t, err)

	out, err = q.Offer(full, enc("bbbb"), 2, 2)
	require.Equal(t, Kept, out)
	require.EqualError(t, err, "queue full", "the refusal that started the wait")

	// While batches wait, the next consumer is not asked: the batch joins them.
	calls = 0
	out, err = q.Offer(ok, enc("cccc"), 3, 3)
	require.Equal(t, Kept, out)
	require.NoError(t, err)
	require.Zero(t, calls)

	out, err = q.Offer(ok, enc("dddd"), 4, 4)
	require.Equal(t, Lost, out, "past maxBytes")
	require.ErrorContains(t, err, "10 bytes")

	q2 := New[int](10)
	out, err = q2.Offer(func() error { return consumererror.NewPermanent(errors.New("bad")) }, enc("x"), 1, 1)
	require.Equal(t, Lost, out)
	require.True(t, consumererror.IsPermanent(err))
	out, err = q2.Offer(full, func() ([]byte, error) { return nil, errors.New("cannot encode") }, 1, 1)
	require.Equal(t, Lost, out)
	require.ErrorContains(t, err, "cannot encode")
	require.False(t, q2.Waiting())
}
