package faultinject

import "sync/atomic"

// Stats is a snapshot of a proxy's counters since New.
type Stats struct {
	// Accepted is the number of client connections accepted.
	Accepted int64
	// Active is the number of connections not yet fully closed (Conns).
	Active int
	// Upstream counts the client → server direction.
	Upstream DirStats
	// Downstream counts the server → client direction.
	Downstream DirStats
}

// DirStats counts the bytes of one direction, over all connections. Read
// minus Written minus Swallowed is what is in flight, held back by toxics or
// lost when a connection was closed (LimitData, CutAll, ResetPeer).
type DirStats struct {
	// Read is the number of bytes read from the source side.
	Read int64
	// Written is the number of bytes written to the destination side.
	Written int64
	// Swallowed is the number of bytes dropped by Blackhole toxics.
	Swallowed int64
}

// dirCounters are the atomic counters behind DirStats; any goroutine.
type dirCounters struct {
	read, written, swallowed atomic.Int64
}

// load returns the counters as a DirStats.
func (c *dirCounters) load() DirStats {
	return DirStats{Read: c.read.Load(), Written: c.written.Load(), Swallowed: c.swallowed.Load()}
}
