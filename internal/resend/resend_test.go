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
	q.Retry(func([]byte) error { return errors.New("queue full") }, record)
	require.Empty(t, done)
	items, _ = q.Held()
	require.EqualValues(t, 5, items)

	// Oldest first; a permanent refusal is reported and removed, then the round goes on.
	var errs []error
	q.Retry(func(b []byte) error {
		if string(b) == "aaaa" {
			return consumererror.NewPermanent(errors.New("bad"))
		}
		return nil
	}, func(m string, n int64, err error) { done = append(done, m); errs = append(errs, err) })
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
