package dlist

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type item struct {
	v    int
	a, b Links[item]
}

func values(l *List[item], next func(*item) *item) []int {
	var out []int
	for e := l.Front(); e != nil; e = next(e) {
		out = append(out, e.v)
	}
	return out
}

// Two lists over the same elements, in different orders, as the tail sampler keeps its traces.
func TestTwoOrders(t *testing.T) {
	byA := New(func(i *item) *Links[item] { return &i.a })
	byB := New(func(i *item) *Links[item] { return &i.b })
	items := make([]*item, 5)
	for i := range items {
		items[i] = &item{v: i}
		byA.PushBack(items[i])
		byB.PushBack(items[i])
	}
	byB.MoveToBack(items[1])
	byB.MoveToBack(items[0])
	byB.MoveToBack(items[0]) // already last
	byA.Remove(items[2])
	byB.Remove(items[4])
	require.Equal(t, []int{0, 1, 3, 4}, values(&byA, func(i *item) *item { return i.a.next }))
	require.Equal(t, []int{2, 3, 1, 0}, values(&byB, func(i *item) *item { return i.b.next }))
	require.Equal(t, 4, byA.Back().v)
	require.Equal(t, 0, byB.Back().v)
	for _, it := range []*item{items[0], items[1], items[3], items[4]} {
		byA.Remove(it)
	}
	require.Nil(t, byA.Front())
	require.Nil(t, byA.Back())
	byA.PushBack(items[2])
	require.Equal(t, items[2], byA.Front())
	require.Equal(t, items[2], byA.Back())
}
