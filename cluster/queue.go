package cluster

import (
	"context"
	"sync"
)

// queue hands values to a channel in the order their keys arrived, holding
// one value per key: a key pushed again while it waits keeps its place and
// takes the new value. A slow reader therefore sees each name once, not
// once per change, and a writer never blocks.
type queue[T any] struct {
	mu   sync.Mutex
	keys []string
	vals map[string]T
	wake chan struct{}
	out  chan T
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{vals: map[string]T{}, wake: make(chan struct{}, 1), out: make(chan T, 16)}
}

func (q *queue[T]) push(key string, v T) {
	q.mu.Lock()
	if _, waiting := q.vals[key]; !waiting {
		q.keys = append(q.keys, key)
	}
	q.vals[key] = v
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue[T]) pop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.keys) == 0 {
		var zero T
		return zero, false
	}
	k := q.keys[0]
	q.keys = q.keys[1:]
	v := q.vals[k]
	delete(q.vals, k)
	return v, true
}

// run feeds out until ctx ends, then closes it.
func (q *queue[T]) run(ctx context.Context) {
	defer close(q.out)
	for {
		v, ok := q.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case q.out <- v:
		}
	}
}
