package faultinject

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// readSize is the size of the proxy's reads, the largest chunk.
const readSize = 32 << 10

// Internal errors that end or restart the forwarding of a chunk.
var (
	// errChanged: the toxic set changed; re-evaluate the unsent rest.
	errChanged = errors.New("faultinject: toxics changed")
	// errLinkClosed: the link was shut down.
	errLinkClosed = errors.New("faultinject: connection closed")
	// errLimit: a LimitData toxic reached its limit.
	errLimit = errors.New("faultinject: data limit reached")
	// errLimited: the other direction reached a limit; drop the rest.
	errLimited = errors.New("faultinject: the other direction reached a data limit")
)

// sourceError is a read error from a direction's source socket.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "faultinject: read: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// chunk is one read from a source socket, or its end (err != nil, data
// empty). The forwarder owns data once it has received the chunk.
type chunk struct {
	data []byte
	at   time.Time // when the read returned
	err  error     // io.EOF or the read error; nil for data
}

// read copies src into q, one chunk per Read, until end of file, an error,
// or the link's shutdown. Each chunk is a copy of exactly the bytes read, so
// small reads (the common case for request/reply protocols) cost little.
// The reader reads whenever q has room, also while the forwarder holds
// earlier chunks, so that each chunk is stamped when its bytes arrive.
func (l *link) read(src net.Conn, q *chunkQueue, counts *dirCounters) {
	buf := make([]byte, readSize)
	for {
		if !q.waitRoom(l.ctx) {
			return
		}
		n, err := src.Read(buf)
		now := time.Now()
		if n > 0 {
			counts.read.Add(int64(n))
			q.push(chunk{data: bytes.Clone(buf[:n]), at: now})
		}
		if err != nil {
			q.push(chunk{at: now, err: err})
			return
		}
	}
}

// forwarder moves one direction's chunks through the toxics to dst. All its
// fields are owned by its goroutine.
type forwarder struct {
	l      *link
	dir    Direction
	dst    net.Conn
	counts *dirCounters
	rnd    *rand.Rand     // this direction's random stream
	states map[uint64]any // per-toxic state by toxic id (*limitState, ...)
	snap   *snapshot      // the snapshot states was last pruned against
	sunk   int            // bytes of the current pass written or swallowed
}

func newForwarder(l *link, dir Direction, dst net.Conn) *forwarder {
	return &forwarder{
		l:      l,
		dir:    dir,
		dst:    dst,
		counts: &l.p.counts[dir],
		rnd:    streamRand(l.p.seed, l.index, dir),
		states: make(map[uint64]any),
	}
}

// run forwards chunks until the direction ends. It returns nil when the
// source's end of file was forwarded as a half close, otherwise why it
// stopped.
func (f *forwarder) run(q *chunkQueue) error {
	for {
		c, ok := q.pop(f.l.ctx)
		if !ok {
			return errLinkClosed
		}
		switch {
		case f.l.limited.Load() != 0 && c.err == nil:
			// The other direction reached a limit: its sender, this
			// direction's destination, is closed; drop what the receiver
			// still sends (see link.endAtLimit).
			q.release(c)
		case len(c.data) > 0:
			err := f.forward(c)
			q.release(c)
			if err != nil && f.l.limited.Load() == 0 {
				return err
			}
		case errors.Is(c.err, io.EOF):
			if f.l.limited.Load() != 0 {
				return nil
			}
			return f.forwardClose(c.at)
		default:
			return &sourceError{c.err}
		}
	}
}

// forward passes one chunk through the current toxics. When the toxic set
// changes while part of the chunk is still unsent, the rest is passed again
// through the new set: bytes are written or swallowed exactly once, in order.
func (f *forwarder) forward(c chunk) error {
	rest := c.data
	for len(rest) > 0 {
		snap := f.l.p.snaps[f.dir].Load()
		f.prune(snap)
		f.sunk = 0
		err := f.pass(snap, c.at, rest)
		rest = rest[f.sunk:]
		if err != nil && !errors.Is(err, errChanged) {
			return err
		}
	}
	return nil
}

// pass sends b through the toxics of snap that apply to this connection.
func (f *forwarder) pass(snap *snapshot, at time.Time, b []byte) error {
	if snap.paused {
		return f.waitChange(snap)
	}
	var stages []*toxicEntry
	for _, e := range snap.toxics {
		switch e.toxic.(type) {
		case ResetPeer, SlowClose:
			// Not per chunk: see link.syncResets and forwardClose.
			continue
		}
		if applies(f.l.p.seed, f.l.index, e.name, e.toxicity) {
			stages = append(stages, e)
		}
	}
	return f.emit(snap, stages, at, b)
}

// sink writes b to the destination: the end of every stage chain.
func (f *forwarder) sink(snap *snapshot, b []byte) error {
	if stale(snap) {
		return errChanged
	}
	n, err := f.dst.Write(b)
	f.sunk += n
	f.counts.written.Add(int64(n))
	return err
}

// swallow drops b (Blackhole).
func (f *forwarder) swallow(snap *snapshot, b []byte) error {
	if stale(snap) {
		return errChanged
	}
	f.sunk += len(b)
	f.counts.swallowed.Add(int64(len(b)))
	return nil
}

// forwardClose forwards the source's end of file read at time at: after the
// delay of the SlowClose toxics that apply, and not while paused, it closes
// the destination's write side.
func (f *forwarder) forwardClose(at time.Time) error {
	for {
		snap := f.l.p.snaps[f.dir].Load()
		var err error
		if snap.paused {
			err = f.waitChange(snap)
		} else {
			var delay time.Duration
			for _, e := range snap.toxics {
				if sc, ok := e.toxic.(SlowClose); ok && applies(f.l.p.seed, f.l.index, e.name, e.toxicity) {
					delay += sc.Delay
				}
			}
			err = f.sleepUntil(snap, at.Add(delay))
		}
		if err == nil {
			break
		}
		if !errors.Is(err, errChanged) {
			return err
		}
	}
	if tc, ok := f.dst.(*net.TCPConn); ok {
		if err := tc.CloseWrite(); err != nil {
			return err
		}
	}
	return nil
}

// stale reports whether snap has been replaced.
func stale(snap *snapshot) bool {
	select {
	case <-snap.changed:
		return true
	default:
		return false
	}
}

// waitChange waits until snap is replaced (errChanged) or the link is shut
// down (errLinkClosed) or reaches a limit (errLimited).
func (f *forwarder) waitChange(snap *snapshot) error {
	select {
	case <-snap.changed:
		return errChanged
	case <-f.l.ctx.Done():
		return errLinkClosed
	case <-f.l.limitedCh:
		return errLimited
	}
}

// sleepUntil waits until t. It returns early with errChanged when snap is
// replaced, errLinkClosed when the link is shut down, or errLimited when it
// reaches a limit.
func (f *forwarder) sleepUntil(snap *snapshot, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-snap.changed:
		return errChanged
	case <-f.l.ctx.Done():
		return errLinkClosed
	case <-f.l.limitedCh:
		return errLimited
	}
}

// prune forgets the state of toxics no longer in the direction's set; it
// only looks when the snapshot is new.
func (f *forwarder) prune(snap *snapshot) {
	if snap == f.snap {
		return
	}
	f.snap = snap
	if len(f.states) == 0 {
		return
	}
	live := make(map[uint64]bool, len(snap.toxics))
	for _, e := range snap.toxics {
		live[e.id] = true
	}
	for id := range f.states {
		if !live[id] {
			delete(f.states, id)
		}
	}
}
