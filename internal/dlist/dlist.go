// Package dlist is an intrusive doubly-linked list: each element carries its own links, so
// adding, moving and removing an element allocates nothing and an element can sit on several
// lists at once (one Links field each). The tail sampler keeps its traces in arrival orders with
// it, the log holder its groups.
package dlist // import "github.com/sieveobs/sieve/internal/dlist"

// Links are an element's place in one list.
type Links[T any] struct {
	prev, next *T
}

// List orders elements of type T through the Links that links returns for each.
type List[T any] struct {
	head, tail *T
	links      func(*T) *Links[T]
}

// New returns an empty list over the links links selects.
func New[T any](links func(*T) *Links[T]) List[T] { return List[T]{links: links} }

// Front returns the first element, nil when the list is empty.
func (l *List[T]) Front() *T { return l.head }

// Back returns the last element, nil when the list is empty.
func (l *List[T]) Back() *T { return l.tail }

// PushBack appends e, which must not be on the list.
func (l *List[T]) PushBack(e *T) {
	le := l.links(e)
	le.prev, le.next = l.tail, nil
	if l.tail != nil {
		l.links(l.tail).next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// Remove takes e, which must be on the list, off it.
func (l *List[T]) Remove(e *T) {
	le := l.links(e)
	if le.prev != nil {
		l.links(le.prev).next = le.next
	} else {
		l.head = le.next
	}
	if le.next != nil {
		l.links(le.next).prev = le.prev
	} else {
		l.tail = le.prev
	}
	le.prev, le.next = nil, nil
}

// MoveToBack moves e, which must be on the list, to its end.
func (l *List[T]) MoveToBack(e *T) {
	if l.tail == e {
		return
	}
	l.Remove(e)
	l.PushBack(e)
}
