package faultinject

import (
	"fmt"
	"time"
)

// Bounds of the toxics' settings. Larger values are refused with
// ErrInvalidToxic: they are no use in a test, and they would overflow the
// arithmetic of the random draws.
const (
	// MaxToxicDuration bounds every duration of a toxic: Latency's Delay
	// and Jitter, Slicer's Delay, ResetPeer's Timeout, SlowClose's Delay.
	MaxToxicDuration = 24 * time.Hour
	// MaxToxicSize bounds Slicer's AverageSize and SizeVariation, in bytes.
	MaxToxicSize = 1 << 30
)

// Toxic is one kind of fault. The implementations are the struct types of
// this package (Latency, Bandwidth, Slicer, LimitData, Blackhole, ResetPeer,
// SlowClose); the set is closed. Toxics are plain values: a Proxy keeps its
// own copy, and a pointer to one of the structs is accepted and copied too.
type Toxic interface {
	// Kind is the toxic's type name as used by the control interface:
	// "latency", "bandwidth", "slicer", "limit_data", "blackhole",
	// "reset_peer" or "slow_close".
	Kind() string
	// validate reports an invalid field, wrapping ErrInvalidToxic.
	validate() error
}

// Latency delays every chunk of data by Delay ± a random Jitter, measured from
// the moment the proxy read the chunk. Chunks are never reordered: a chunk
// whose delay ends before its predecessor's is sent right after it. Latency on
// both directions adds up on a request/reply round trip.
//
// The proxy keeps reading while it holds data, so each byte is read, and its
// delay starts, when it arrives, up to 8 MiB held per connection and
// direction. That bounds the throughput under Latency to about 8 MiB per
// Delay (80 MiB/s at 100 ms): beyond it the sender meets TCP back-pressure,
// and the bytes waiting in the kernel are delayed by more than Delay.
type Latency struct {
	// Delay is the base delay, 0 to MaxToxicDuration.
	Delay time.Duration
	// Jitter, 0 to MaxToxicDuration, adds a uniformly random offset in
	// [-Jitter, +Jitter] to each chunk's delay (never below zero in total).
	Jitter time.Duration
}

// Bandwidth limits a direction's throughput to BytesPerSecond. Data is sent
// in pieces of about 50 ms worth of bytes, each after the time its size costs.
// Idle time earns no credit: a burst after a pause is paced like any other.
type Bandwidth struct {
	// BytesPerSecond is the rate, > 0. A huge rate (math.MaxInt64) is as
	// good as no limit.
	BytesPerSecond int64
}

// Slicer splits data into small pieces and waits Delay between consecutive
// pieces, so that the receiver sees partial reads. Piece sizes are
// AverageSize ± a random SizeVariation, never below one byte; AverageSize 1
// with SizeVariation 0 sends one byte at a time. Pieces never span two chunks
// that the proxy read separately, so a piece can be shorter than drawn.
type Slicer struct {
	// AverageSize is the mean piece size in bytes, 1 to MaxToxicSize.
	AverageSize int
	// SizeVariation, 0 to MaxToxicSize, is the maximum random deviation
	// from AverageSize.
	SizeVariation int
	// Delay, 0 to MaxToxicDuration, is the minimum time between the writes
	// of two pieces.
	Delay time.Duration
}

// LimitData closes the connection, both sides, as soon as Bytes bytes have
// passed this toxic in its direction: the receiver gets exactly the first
// Bytes bytes and then end of file, and the sender's side is closed at once.
// Until the receiver closes its side too (or for 2 s at most), the proxy
// reads and drops what it still sends, such as a client's next pipelined
// command: closing a socket with unread bytes would send a reset and lose
// the bytes not yet delivered. The count is kept per connection and
// direction, survives UpdateToxic, and starts again at zero for a toxic that
// is removed and added again. With Bytes 0 the connection is closed when its
// first byte in that direction arrives.
type LimitData struct {
	// Bytes is the number of bytes let through, >= 0.
	Bytes int64
}

// Blackhole swallows every byte in its direction: the proxy reads them and
// drops them, and the connection stays open. Closing (end of file) is still
// forwarded. Removing the toxic lets later bytes through again; swallowed
// bytes are gone.
type Blackhole struct{}

// ResetPeer resets the client's connection with a TCP RST (SO_LINGER 0) after
// Timeout, and closes the upstream connection. Timeout counts from the moment
// the toxic applies to the connection: when the connection is opened, or when
// the toxic is added while the connection is already open. Timeout 0 resets
// at once. The direction of a ResetPeer toxic only groups it in listings; the
// client side is always the one reset.
type ResetPeer struct {
	// Timeout is the delay before the reset, 0 to MaxToxicDuration.
	Timeout time.Duration
}

// SlowClose delays the propagation of a close: when the source side of its
// direction closes (end of file), the proxy forwards all data received before
// it and then waits Delay, measured from the moment it read the end of file,
// before closing the destination's side.
type SlowClose struct {
	// Delay is the extra time before the close is forwarded, 0 to
	// MaxToxicDuration.
	Delay time.Duration
}

// Kind returns "latency".
func (Latency) Kind() string { return "latency" }

// Kind returns "bandwidth".
func (Bandwidth) Kind() string { return "bandwidth" }

// Kind returns "slicer".
func (Slicer) Kind() string { return "slicer" }

// Kind returns "limit_data".
func (LimitData) Kind() string { return "limit_data" }

// Kind returns "blackhole".
func (Blackhole) Kind() string { return "blackhole" }

// Kind returns "reset_peer".
func (ResetPeer) Kind() string { return "reset_peer" }

// Kind returns "slow_close".
func (SlowClose) Kind() string { return "slow_close" }

func (t Latency) validate() error {
	if err := checkDuration("latency", "delay", t.Delay); err != nil {
		return err
	}
	return checkDuration("latency", "jitter", t.Jitter)
}

func (t Bandwidth) validate() error {
	if t.BytesPerSecond <= 0 {
		return fmt.Errorf("%w: bandwidth: bytes per second must be > 0", ErrInvalidToxic)
	}
	return nil
}

func (t Slicer) validate() error {
	if err := checkSize("slicer", "average size", t.AverageSize, 1); err != nil {
		return err
	}
	if err := checkSize("slicer", "size variation", t.SizeVariation, 0); err != nil {
		return err
	}
	return checkDuration("slicer", "delay", t.Delay)
}

func (t LimitData) validate() error {
	if t.Bytes < 0 {
		return fmt.Errorf("%w: limit_data: negative byte count", ErrInvalidToxic)
	}
	return nil
}

func (Blackhole) validate() error { return nil }

func (t ResetPeer) validate() error {
	return checkDuration("reset_peer", "timeout", t.Timeout)
}

func (t SlowClose) validate() error {
	return checkDuration("slow_close", "delay", t.Delay)
}

// checkDuration reports a duration field of a toxic of kind that is not in
// [0, MaxToxicDuration], wrapping ErrInvalidToxic.
func checkDuration(kind, field string, d time.Duration) error {
	if d < 0 || d > MaxToxicDuration {
		return fmt.Errorf("%w: %s: %s must be between 0 and %v, not %v", ErrInvalidToxic, kind, field, MaxToxicDuration, d)
	}
	return nil
}

// checkSize reports a size field of a toxic of kind that is not in [least,
// MaxToxicSize], wrapping ErrInvalidToxic.
func checkSize(kind, field string, n, least int) error {
	if n < least || n > MaxToxicSize {
		return fmt.Errorf("%w: %s: %s must be between %d and %d, not %d", ErrInvalidToxic, kind, field, least, MaxToxicSize, n)
	}
	return nil
}

// canonicalToxic returns t as a validated value (not pointer) type.
func canonicalToxic(t Toxic) (Toxic, error) {
	switch v := t.(type) {
	case *Latency:
		if v != nil {
			t = *v
		}
	case *Bandwidth:
		if v != nil {
			t = *v
		}
	case *Slicer:
		if v != nil {
			t = *v
		}
	case *LimitData:
		if v != nil {
			t = *v
		}
	case *Blackhole:
		if v != nil {
			t = *v
		}
	case *ResetPeer:
		if v != nil {
			t = *v
		}
	case *SlowClose:
		if v != nil {
			t = *v
		}
	}
	switch t.(type) {
	case Latency, Bandwidth, Slicer, LimitData, Blackhole, ResetPeer, SlowClose:
	default:
		return nil, fmt.Errorf("%w: nil or unknown toxic %T", ErrInvalidToxic, t)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return t, nil
}
