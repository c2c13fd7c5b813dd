package client

import (
	"sync"
	"sync/atomic"

	"github.com/justredis/justredis/resp"
)

// A request moves through these states. Exactly one party owns it at any
// time, and ownership only moves with a successful compare-and-swap:
//
//	caller ──enqueue──► stQueued ──writer──► stWritten ──reader──► stDone ──► caller
//	                       │                     │
//	             caller's ctx ends     caller's ctx ends
//	                       ▼                     ▼
//	              stAbandonedQueued     stAbandonedWritten
//	              (writer drops it)     (reader drops the reply)
//
// A caller that gives up (its ctx ended) swaps in an abandoned state and
// returns at once; the I/O goroutine that next touches the request sees it
// and recycles it. A request abandoned while still queued is never written,
// so its error can say, truthfully, that the command did not run (unless an
// earlier connection already carried it: everSent).
//
// When a connection fails, the requests it had not answered go back to
// stQueued and are replayed, in their original order, on the next
// connection, as long as the rules allow it (never sent, or safe to send
// again) and their retry budget lasts; the others are completed with the
// failure. Callers just keep waiting. A replayed request that some
// connection may have delivered waits in stRequeued rather than stQueued, so
// that a caller who gives up then says MaybeExecuted.
const (
	stQueued           uint32 = iota
	stRequeued                // queued again after a connection that may have delivered it failed
	stWritten                 // handed to a connection's writer (in its write buffer, or written)
	stDone                    // result stored; the caller is signalled
	stAbandonedQueued         // the caller left while it was queued (or requeued)
	stAbandonedWritten        // the caller left after it was written
)

// request is one unit of writing and reading: a command, or a whole
// MULTI...EXEC block, and its reply or replies.
//
// Its fields are laid out by who touches them when, in 64-byte cache lines
// (a request is 320 bytes, a size class of whole lines, so every request
// starts on a line boundary and the lines fall where the comments say):
// with thousands of callers, a request is cold by the time the writer, the
// reader and then its caller get to it, and each line one of them touches
// is a cache miss. The writer touches lines 0 and 1, the
// reader lines 1 to 3 (for a plain reply), the woken caller lines 2 and 3.
// TestRequestLayout keeps it so.
type request struct {
	// Line 0. Set by the caller before enqueueing; afterwards changed only
	// by the request's owner between sends (setAsking), never while a
	// connection holds it.
	buf    []byte   // the encoded command(s), without the big arguments
	big    []bigArg // large string arguments sent from where they are, in buf's gaps
	bigLen int      // their total length
	db     int      // database to run in; noDB means "whatever is selected"

	// Line 1: what every party reads or writes on every command.
	state    atomic.Uint32 // see the states above
	attempts atomic.Int32  // times handed to a connection (read by a caller that gives up)
	everSent atomic.Bool   // some connection may have delivered it to the server
	exec     Execution     // with err: whether the request may have been sent (I/O goroutines, then caller)
	resend   bool          // a single command the I/O goroutines may re-send when turned away (see Node.turnedAway); set by the caller
	expect   int           // replies that belong to this request (1, or n+2 for a transaction); set by the caller
	// internal is non-nil for the client's own requests (SELECT): it takes
	// the reply, and an error fails the connection. Set before publishing.
	internal func(*conn, resp.Value) error
	// done is signalled once per use on reaching stDone, and once more
	// when the caller's context ends while the request is in its waiter
	// list (ctxwait.go): capacity 2.
	done    chan struct{}
	start   int64 // offset of its first byte in the connection's output stream (the writer's)
	slot    int   // hash slot under a sharded router, else NoSlot (the caller's)
	retries int   // re-sends left (the owner's)

	// Lines 2 and 3. Written by the I/O goroutines, read by the caller
	// after done.
	value resp.Value // the (last) reply
	err   error      // a connection failure instead of a reply

	// The rest: the caller's (or whoever owns the request), and the
	// replies of a transaction.
	replies   []resp.Value // all replies, when expect > 1 (I/O goroutines)
	redirects int          // MOVED and ASK redirections followed so far
	safe      bool         // read-only or idempotent: may be replayed after an unknown outcome
	readOnly  bool         // the command does not write (a replica may serve it)
	routed    bool         // not pinned to a node: MOVED and ASK may send it elsewhere
	asking    bool         // buf holds ASKING at askAt (and expect counts its reply)
	// askAt is where in buf ASKING goes when the request is re-sent after
	// ASK: before the command the redirection is about. Outside MULTI the
	// server's ASKING covers only the next command, so for a script sent
	// with its SCRIPT LOAD in front it is the offset of the EVALSHA; 0
	// (the start) for everything else, a transaction included (the flag
	// lasts until EXEC).
	askAt int32
	// seq is the order of the request's first write on the connection
	// that holds it (its writer numbers them, wrapping, skipping 0), 0
	// before; sent again on the same connection after "not now", it keeps
	// it. drain replays by it: in the order the requests were issued.
	// 32 bits fit the request in its size class (layout_test.go); the
	// requests compared are never 2^31 apart.
	seq uint32

	// A waiter list's links, guarded by the list shard's lock.
	wlinked      bool
	wshard       uint8 // which shard of a context's lists
	wnext, wprev *request

	_ [40]byte // to 320 bytes: a size class whose blocks start on a line
}

// bigArg is a large string argument that a request's buf leaves out: its
// bytes belong at offset at of buf (between its bulk header and CRLF). The
// writer sends it from the caller's string instead of copying it twice
// (into the request, then into the write buffer): a string cannot change,
// so referring to it is safe for as long as the request lives, even after
// its caller has given up. Byte slices are always copied (encode.go).
type bigArg struct {
	at int
	s  string
}

// size is the length of r's wire form: buf and its big arguments.
func (r *request) size() int { return len(r.buf) + r.bigLen }

// appendWire appends r's wire form to dst: buf, with its big arguments
// copied into their places.
func (r *request) appendWire(dst []byte) []byte {
	prev := 0
	for _, b := range r.big {
		dst = append(append(dst, r.buf[prev:b.at]...), b.s...)
		prev = b.at
	}
	return append(dst, r.buf[prev:]...)
}

// flatten copies r's big arguments into buf, for the paths that write a
// request as one buffer (dedicated connections). (Not inlined: its locals
// would grow the frames of the common paths that call it, see Database.Do.)
//
//go:noinline
func (r *request) flatten() {
	if len(r.big) == 0 {
		return
	}
	r.buf = r.appendWire(make([]byte, 0, r.size()))
	r.dropBig()
}

// dropBig forgets r's big arguments (their strings are not kept alive by a
// pooled request).
func (r *request) dropBig() {
	clear(r.big)
	r.big, r.bigLen = r.big[:0], 0
}

// maxPooledBig caps the big-argument list a pooled request keeps (an MSET
// of thousands of big values would otherwise pin a long one).
const maxPooledBig = 64

// noDB marks a request that does not care which database is selected (the
// handshake's and internal commands on a fresh connection).
const noDB = -1

var requestPool = sync.Pool{New: func() any {
	return &request{done: make(chan struct{}, 2), slot: NoSlot, wshard: uint8(shardSeq.Add(1) % waitShards)}
}}

// getRequest returns a clean request from the pool.
func getRequest() *request {
	return requestPool.Get().(*request)
}

// putRequest recycles r. Only the owner may call it, once.
func putRequest(r *request) {
	if cap(r.buf) > 64<<10 {
		r.buf = nil // do not pin big buffers in the pool
	}
	r.buf = r.buf[:0]
	r.dropBig()
	if cap(r.big) > maxPooledBig {
		r.big = nil
	}
	r.db, r.expect, r.start, r.internal, r.seq = 0, 0, 0, nil, 0
	r.safe, r.retries, r.slot, r.readOnly = false, 0, NoSlot, false
	r.resend, r.routed, r.asking, r.redirects, r.askAt = false, false, false, 0, 0
	r.attempts.Store(0)
	r.everSent.Store(false)
	clear(r.replies)
	r.replies = r.replies[:0]
	r.value, r.err, r.exec = resp.Value{}, nil, NotSent
	r.state.Store(stQueued)
	requestPool.Put(r)
}

// complete hands a result to the waiting caller, or recycles the request if
// the caller has given up. It is called by an I/O goroutine that owns r.
func (r *request) complete(v resp.Value, err error) {
	r.value, r.err = v, err
	if r.state.CompareAndSwap(stWritten, stDone) || r.state.CompareAndSwap(stQueued, stDone) ||
		r.state.CompareAndSwap(stRequeued, stDone) {
		r.done <- struct{}{}
		return
	}
	putRequest(r) // abandoned
}

// tries returns how many times r was handed to a connection.
func (r *request) tries() int { return int(r.attempts.Load()) }

// queuedExec is what the caller, owning r, may say of it before it is
// queued again: not sent, unless an earlier connection may have delivered it.
func (r *request) queuedExec() Execution {
	if r.everSent.Load() {
		return MaybeSent
	}
	return NotSent
}

// queuedState is the state for r waiting in a queue.
func (r *request) queuedState() uint32 {
	if r.everSent.Load() {
		return stRequeued
	}
	return stQueued
}

// claimQueued takes a queued request for the I/O goroutine, unless its
// caller abandoned it; it reports success.
func (r *request) claimQueued() bool {
	return r.state.CompareAndSwap(stQueued, stQueued) || r.state.CompareAndSwap(stRequeued, stRequeued)
}

// takeForWrite moves a queued request to stWritten, unless its caller
// abandoned it.
func (r *request) takeForWrite() bool {
	return r.state.CompareAndSwap(stQueued, stWritten) || r.state.CompareAndSwap(stRequeued, stWritten)
}

// plain reports whether the completed request holds a reply that is not an
// error: nothing to classify or re-send. (It reads as little of the request
// as it can: after the wait, the caller's stack and request are cold.)
func (r *request) plain() bool { return r.err == nil && !r.value.Type.IsError() }

// resetResult clears a completed request's result so it can be sent again.
func (r *request) resetResult() {
	clear(r.replies)
	r.replies = r.replies[:0]
	r.value, r.err, r.exec, r.seq = resp.Value{}, nil, NotSent, 0
}

// requeue takes back a written request whose reply said it did not run,
// so that it can be queued again; it reports false (and recycles r) when
// its caller abandoned it.
func (r *request) requeue() bool {
	if !r.state.CompareAndSwap(stWritten, r.queuedState()) {
		putRequest(r)
		return false
	}
	r.resetResult()
	return true
}

// setAsking puts ASKING in front of the command at askAt, or takes it off.
func (r *request) setAsking(on bool) {
	at, n := int(r.askAt), len(askingCommand)
	switch {
	case on && !r.asking:
		buf := make([]byte, 0, len(r.buf)+n)
		buf = append(append(append(buf, r.buf[:at]...), askingCommand...), r.buf[at:]...)
		r.buf = buf
		r.expect++
		r.shiftBig(at, n)
	case !on && r.asking:
		r.buf = append(r.buf[:at], r.buf[at+n:]...)
		r.expect--
		r.shiftBig(at, -n)
	}
	r.asking = on
}

// shiftBig moves by d the offsets of the big arguments at or after from,
// after d bytes were put in at from (or taken out there).
func (r *request) shiftBig(from, d int) {
	for i := range r.big {
		if r.big[i].at >= from {
			r.big[i].at += d
		}
	}
}

// fail completes r with a connection failure. A request that an earlier
// connection may have delivered is MaybeSent whatever this one says.
func (r *request) fail(err error, exec Execution) {
	if r.everSent.Load() {
		exec = MaybeSent
	}
	r.exec = exec
	r.complete(resp.Value{}, err)
}

// deliver records one reply; it reports whether the request is now
// complete (and completed).
func (r *request) deliver(v resp.Value) bool {
	if r.expect <= 1 {
		r.complete(v, r.err)
		return true
	}
	r.replies = append(r.replies, v)
	if len(r.replies) < r.expect {
		return false
	}
	r.complete(v, r.err)
	return true
}

// deliverBad records, in place of one reply, err: a reply the server sent
// malformed in a sound frame (badReply). The request completes with the
// first such error once all its replies are in; MaybeSent, as the server
// answered, so ran it. It reports whether the request is now complete.
func (r *request) deliverBad(err error) bool {
	if r.err == nil {
		r.err, r.exec = err, MaybeSent
	}
	return r.deliver(resp.Value{Type: resp.TypeNull})
}
