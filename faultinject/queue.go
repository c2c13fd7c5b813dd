package faultinject

import (
	"context"
	"sync"
)

const (
	// readAhead bounds, in bytes, what one direction of a link holds between
	// its reader and its forwarder: the chunks queued and the one being
	// forwarded. It is generous so that the reader keeps reading, and
	// stamping, data as it arrives while toxics such as Latency hold earlier
	// chunks: under a Latency toxic a direction carries up to readAhead bytes
	// per Delay before the sender meets TCP back-pressure. Memory is only
	// taken for data actually held. The docs of Latency, Pause and the
	// package, and the README, give the number.
	readAhead = 8 << 20
	// chunkOverhead is what a chunk costs beyond its data (the chunk value in
	// the queue and the rounding of its allocation), charged to readAhead
	// so that a flood of tiny reads is bounded too.
	chunkOverhead = 128
)

// chunkQueue is the FIFO from a direction's reader to its forwarder, bounded
// by bytes (readAhead) rather than by a count of chunks. The reader waits for
// room for a whole read before it reads, so the kernel keeps the data that
// does not fit and the sender is slowed by TCP flow control. The forwarder
// gives a chunk's room back once it has forwarded it.
type chunkQueue struct {
	mu     sync.Mutex
	chunks []chunk // guarded by mu; oldest first
	bytes  int     // guarded by mu; cost of the chunks queued or being forwarded

	ready chan struct{} // capacity 1: a token after a push
	room  chan struct{} // capacity 1: a token after a release
}

func newChunkQueue() *chunkQueue {
	return &chunkQueue{
		ready: make(chan struct{}, 1),
		room:  make(chan struct{}, 1),
	}
}

// cost is what c counts against readAhead.
func (c chunk) cost() int { return len(c.data) + chunkOverhead }

// waitRoom waits until a read of readSize bytes fits in readAhead. It
// returns false when ctx ends first. Only the reader calls it, so the room
// it saw is still there when it pushes.
func (q *chunkQueue) waitRoom(ctx context.Context) bool {
	for {
		q.mu.Lock()
		fits := q.bytes+readSize+chunkOverhead <= readAhead
		q.mu.Unlock()
		if fits {
			return true
		}
		select {
		case <-q.room:
		case <-ctx.Done():
			return false
		}
	}
}

// push appends c. It never waits: the reader made room with waitRoom
// before it read c (an end-of-file chunk costs only chunkOverhead and is
// the last).
func (q *chunkQueue) push(c chunk) {
	q.mu.Lock()
	q.chunks = append(q.chunks, c)
	q.bytes += c.cost()
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop removes and returns the oldest chunk, waiting for one. It returns
// false when ctx ends first. The chunk's cost stays charged until release.
func (q *chunkQueue) pop(ctx context.Context) (chunk, bool) {
	for {
		q.mu.Lock()
		if len(q.chunks) > 0 {
			c := q.chunks[0]
			q.chunks[0] = chunk{} // the forwarder owns the data now
			q.chunks = q.chunks[1:]
			if len(q.chunks) == 0 {
				q.chunks = nil // a burst is over: give its array back
			}
			q.mu.Unlock()
			return c, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return chunk{}, false
		}
	}
}

// release gives back the room of a chunk returned by pop, once the
// forwarder is done with it.
func (q *chunkQueue) release(c chunk) {
	q.mu.Lock()
	q.bytes -= c.cost()
	q.mu.Unlock()
	select {
	case q.room <- struct{}{}:
	default:
	}
}
