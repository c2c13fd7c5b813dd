package faultinject

import (
	"math"
	"time"
)

// The per-chunk stages. emit passes b through stages[0], which hands what it
// lets through, piece by piece, to the rest of the chain, ending in sink.
// Every byte of b ends in exactly one of: sink (written), swallow (Blackhole),
// an error return (not consumed: forward re-passes it, or the link ends).
// f.sunk counts the first two, in order, so forward knows where to resume.

// bandwidthSlice is the time worth of bytes a Bandwidth toxic sends at once.
const bandwidthSlice = 50 * time.Millisecond

// limitState is a LimitData toxic's count on one connection and direction.
type limitState struct{ passed int64 }

// bandwidthState is a Bandwidth toxic's pacing clock: when the last piece
// finished its transmission time.
type bandwidthState struct{ next time.Time }

// slicerState remembers when the last piece was written.
type slicerState struct{ last time.Time }

// emit sends b, read at time at, through stages and then to the destination.
func (f *forwarder) emit(snap *snapshot, stages []*toxicEntry, at time.Time, b []byte) error {
	if len(stages) == 0 {
		return f.sink(snap, b)
	}
	e, rest := stages[0], stages[1:]
	next := func(piece []byte) error { return f.emit(snap, rest, at, piece) }
	switch t := e.toxic.(type) {
	case Latency:
		return f.latency(snap, t, at, b, next)
	case Bandwidth:
		return f.bandwidth(snap, t, state(f, e.id, func() *bandwidthState { return new(bandwidthState) }), b, next)
	case Slicer:
		return f.slicer(snap, t, state(f, e.id, func() *slicerState { return new(slicerState) }), b, next)
	case LimitData:
		return f.limit(t, state(f, e.id, func() *limitState { return new(limitState) }), b, next)
	case Blackhole:
		return f.swallow(snap, b)
	}
	return next(b)
}

// state returns the forwarder's state for toxic id, creating it with mk.
func state[T any](f *forwarder, id uint64, mk func() *T) *T {
	if s, ok := f.states[id].(*T); ok {
		return s
	}
	s := mk()
	f.states[id] = s
	return s
}

// latency holds b until at + Delay ± jitter.
func (f *forwarder) latency(snap *snapshot, t Latency, at time.Time, b []byte, next func([]byte) error) error {
	d := t.Delay
	if t.Jitter > 0 {
		d += time.Duration(symmetricDraw(f.rnd, int64(t.Jitter)))
	}
	if err := f.sleepUntil(snap, at.Add(d)); err != nil {
		return err
	}
	return next(b)
}

// bandwidth paces b at BytesPerSecond, in pieces of bandwidthSlice worth.
func (f *forwarder) bandwidth(snap *snapshot, t Bandwidth, s *bandwidthState, b []byte, next func([]byte) error) error {
	// BytesPerSecond*bandwidthSlice/time.Second would overflow for rates
	// above about 1.8e11; the rate over the number of slices in a second
	// does not.
	piece := max(1, t.BytesPerSecond/int64(time.Second/bandwidthSlice))
	for len(b) > 0 {
		n := int(min(int64(len(b)), piece))
		cost := time.Duration(float64(n) * float64(time.Second) / float64(t.BytesPerSecond))
		if now := time.Now(); s.next.Before(now) {
			s.next = now
		}
		s.next = s.next.Add(cost)
		if err := f.sleepUntil(snap, s.next); err != nil {
			s.next = s.next.Add(-cost) // not sent: do not charge it
			return err
		}
		if err := next(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// slicer sends b in pieces of AverageSize ± SizeVariation, at least Delay
// apart.
func (f *forwarder) slicer(snap *snapshot, t Slicer, s *slicerState, b []byte, next func([]byte) error) error {
	for len(b) > 0 {
		n := min(sliceSize(f.rnd, t), len(b))
		if !s.last.IsZero() {
			if err := f.sleepUntil(snap, s.last.Add(t.Delay)); err != nil {
				return err
			}
		}
		before := f.sunk
		err := next(b[:n])
		if f.sunk > before {
			s.last = time.Now()
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// sliceSize draws one slicer piece size, at least 1. The sum is taken in
// int64, so that it cannot overflow an int even on 32-bit platforms; a
// size above math.MaxInt32 is clamped (a piece is never larger than the
// chunk it comes from anyway).
func sliceSize(rnd uint64Drawer, t Slicer) int {
	n := int64(t.AverageSize)
	if t.SizeVariation > 0 {
		n += symmetricDraw(rnd, int64(t.SizeVariation))
	}
	return int(min(max(1, n), math.MaxInt32))
}

// uint64Drawer is the part of *rand.Rand that the draws use.
type uint64Drawer interface{ Uint64N(n uint64) uint64 }

// symmetricDraw returns a uniformly random number in [-v, v], for v >= 0
// (0 for a negative v). It cannot overflow for any v: 2v+1 fits in a
// uint64, and so does the offset. It draws what rnd.Int64N(2*v+1)-v draws
// (Int64N and Uint64N share one algorithm), so that seeds recorded before
// it replay the same jitter and piece sizes.
func symmetricDraw(rnd uint64Drawer, v int64) int64 {
	if v <= 0 {
		return 0
	}
	u := rnd.Uint64N(2*uint64(v) + 1) // in [0, 2v]
	return int64(u - uint64(v))       // in [-v, v], two's complement
}

// limit lets through at most Bytes bytes in total, then ends the link.
func (f *forwarder) limit(t LimitData, s *limitState, b []byte, next func([]byte) error) error {
	left := t.Bytes - s.passed
	if left <= 0 {
		return errLimit
	}
	if int64(len(b)) > left {
		b = b[:left]
	}
	before := f.sunk
	err := next(b)
	s.passed += int64(f.sunk - before)
	if err != nil {
		return err
	}
	if s.passed >= t.Bytes {
		return errLimit
	}
	return nil
}
