package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/justredis/justredis/resp"
)

// conn is one pipelined connection to a server: callers enqueue encoded
// requests; one writer goroutine drains the queue into a buffer and writes it
// when the queue is empty or the buffer is full; one reader goroutine reads
// replies and hands each to the oldest written request (FIFO).
//
// Failure: whoever notices first (writer, reader, watchdog, close) calls
// fail, which records the error and closes the socket. The reader then waits
// for the writer to stop and settles every request the connection held, in
// order: written ones are "not sent" when their last byte never reached the
// kernel and "maybe sent" otherwise, queued ones "not sent". Each is either
// handed back for replay on the next connection (see request) or failed.
type conn struct {
	nc    net.Conn
	addr  string
	s     *settings
	proto int // 2 or 3, as negotiated

	mu      sync.Mutex
	pending []*request    // guarded by mu: queued, not yet taken by the writer
	retryQ  []*request    // guarded by mu: turned away by the server ("not now"); written before pending
	hold    time.Time     // guarded by mu: the writer writes nothing before this (zero: no hold)
	failed  error         // guarded by mu: set once, when the connection fails
	space   chan struct{} // guarded by mu: closed (and replaced) when the writer makes room
	waiting bool          // guarded by mu: someone waits on space

	wake chan struct{} // capacity 1: the queue became non-empty, or the conn failed

	// Owned by the writer goroutine (in direct mode, by the caller holding
	// directMu); written is read by the reader only after writerDone is
	// closed. What goes out next is wbuf, or, once a request with big
	// arguments is in it (and the socket takes vectors), the pieces in iov:
	// parts of wbuf and the arguments' own bytes, in order.
	wbuf     []byte
	iov      [][]byte    // pieces to write; nil entries once written
	iovMark  int         // wbuf[:iovMark] is in iov already
	wlen     int         // bytes to write: wbuf and the big arguments in iov
	wv       net.Buffers // the vectored write's view of iov (WriteTo consumes it)
	vectored bool        // set before the connection is used: nc writes vectors (writev)
	batch    []*request  // requests taken from pending
	wseq     uint32      // the seq of the last request written first here (request.seq)
	pub      []*request  // scratch: requests being published to flight
	curDB    int         // the database selected on the connection
	offset   int64       // stream offset of wbuf[0]
	written  int64       // bytes handed to the kernel so far

	fmu    sync.Mutex
	flight []*request // guarded by fmu: published by the writer, reply not read yet

	// Owned by the reader goroutine.
	rd    *resp.Reader
	local []*request // a batch taken from flight
	li    int        // next entry of local

	replies     atomic.Uint64 // replies read so far (progress, for the watchdog)
	outstanding atomic.Int64  // published, reply not read yet

	isDead       atomic.Bool      // set (before dead is closed) once the connection has failed
	dead         chan struct{}    // closed once the connection has failed
	writerDone   chan struct{}    // closed when the writer goroutine has exited
	readerDone   chan struct{}    // closed when the reader goroutine has exited
	watchdogDone chan struct{}    // closed when the watchdog has exited; nil without one
	onPush       func(resp.Value) // RESP3 push frames no request owns; may be nil
	stats        *muxStats        // counters shared with the Mux; may be nil
	// onFailed receives, once the connection has failed, the requests to
	// replay (in order, all in stQueued) and the failure; nil means fail
	// them. It runs on the reader goroutine.
	onFailed func(c *conn, replay []*request, err error)
	// turnAway is offered each reply that says its command did not run
	// (MOVED, ASK, LOADING, TRYAGAIN, CLUSTERDOWN); it reports whether it
	// took the request to send again. Nil: such replies go to the caller.
	// It runs on the reader goroutine.
	turnAway func(c *conn, r *request, e *resp.Error) bool
	// spawn runs a goroutine the Mux's Close waits for; false once closed.
	spawn func(func()) bool

	// Direct mode (conn_direct.go).
	mode          atomic.Int32    // modeDirect or modePipelined
	directMu      sync.Mutex      // held by the caller doing a direct round trip
	wantPipelined atomic.Bool     // a caller found the connection busy: switch
	peek          *peeker         // looks at the idle socket before a direct round trip
	imu           sync.Mutex      // guards armed
	armed         bool            // guarded by imu: a direct round trip may be interrupted by its ctx
	idone         <-chan struct{} // guarded by imu: Done of the ctx an interrupt is registered for
	istop         func() bool     // guarded by imu: unregisters it
	endOnce       sync.Once       // closes writerDone/readerDone of a connection with no goroutines
	afterDisarm   func()          // tests: runs after each disarm
}

// maxBatchBytes: the writer writes once its buffer holds this much, even if
// more requests are queued.
const maxBatchBytes = 256 << 10

// newConn wraps an established, handshaken connection; set the optional
// fields, then call start. rd holds whatever the handshake left buffered.
func newConn(nc net.Conn, rd *resp.Reader, addr string, s *settings, proto int, onPush func(resp.Value)) *conn {
	c := &conn{
		nc:         nc,
		vectored:   plainSocket(nc),
		addr:       addr,
		s:          s,
		proto:      proto,
		space:      make(chan struct{}),
		wake:       make(chan struct{}, 1),
		rd:         rd,
		dead:       make(chan struct{}),
		writerDone: make(chan struct{}),
		readerDone: make(chan struct{}),
		onPush:     onPush,
	}
	return c
}

// start makes the connection usable: in direct mode when it can be (a plain
// TCP or unix connection), else with its goroutines started at once.
func (c *conn) start() {
	if canPeek(c.nc) {
		if c.peek = newPeeker(c.nc); c.peek != nil {
			c.mode.Store(modeDirect)
			return
		}
	}
	c.directMu.Lock()
	c.goPipelined()
	c.directMu.Unlock()
}

// enqueue queues r for writing, waiting (with ctx) while the queue is full.
// It returns an error, and r stays the caller's, when the request cannot be
// queued: the connection has failed, or ctx ended while waiting for room.
func (c *conn) enqueue(ctx context.Context, r *request) error {
	c.mu.Lock()
	for {
		if c.failed != nil {
			err := c.failed
			c.mu.Unlock()
			return err
		}
		if len(c.pending) < c.s.queueSize {
			break
		}
		space := c.space
		c.waiting = true
		c.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	r.state.Store(r.queuedState())
	r.attempts.Add(1)
	c.pending = append(c.pending, r)
	first := len(c.pending) == 1
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// fail marks the connection failed with err (the first error wins) and
// closes the socket, which stops both goroutines; the reader then settles
// the requests.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.failed != nil {
		c.mu.Unlock()
		return
	}
	c.failed = err
	if c.waiting {
		close(c.space)
		c.waiting = false
	}
	c.mu.Unlock()
	c.isDead.Store(true)
	close(c.dead)
	_ = c.nc.Close()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pushFront queues replayed requests (in stQueued or stRequeued) ahead of
// everything queued, ignoring the queue bound: they were admitted before.
func (c *conn) pushFront(rs []*request) { c.push(rs, true) }

// push queues requests admitted before, ahead of or behind what is queued.
func (c *conn) push(rs []*request, front bool) {
	if len(rs) == 0 {
		return
	}
	for _, r := range rs {
		r.attempts.Add(1)
	}
	c.mu.Lock()
	if c.failed != nil {
		// Failed meanwhile: its drain has taken pending already, so these
		// go back through the same path.
		err := c.failed
		c.mu.Unlock()
		for _, r := range rs {
			r.attempts.Add(-1)
		}
		if c.onFailed != nil {
			c.onFailed(c, rs, err)
		} else {
			for _, r := range rs {
				r.fail(err, NotSent)
			}
		}
		return
	}
	if front {
		c.pending = append(rs, c.pending...)
	} else {
		c.pending = append(c.pending, rs...)
	}
	c.mu.Unlock()
	c.queuedFromElsewhere()
}

// queuedFromElsewhere wakes the writer for requests queued by someone
// other than a caller; in direct mode, where no writer runs yet, it asks
// for the switch to pipelined mode (made now, or by the caller in the
// middle of a round trip when it ends).
func (c *conn) queuedFromElsewhere() {
	if c.mode.Load() == modeDirect {
		c.wantPipelined.Store(true)
		c.maybeSwitch()
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// retryAfter queues r, which the server turned away, to be written again
// before anything queued, once pause has passed; until then the writer
// writes nothing, so that no command queued after r runs before it. Only
// the reader calls it (its drain takes retryQ if the connection fails).
func (c *conn) retryAfter(r *request, pause time.Duration) {
	r.attempts.Add(1)
	c.mu.Lock()
	c.retryQ = append(c.retryQ, r)
	if until := time.Now().Add(pause); until.After(c.hold) {
		c.hold = until
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close fails the connection with ErrClosed and waits for its goroutines.
func (c *conn) close() {
	c.fail(ErrClosed)
	c.directMu.Lock()
	if c.mode.Load() == modeDirect {
		c.failDirect(ErrClosed, nil) // settles what queued for the switch
	}
	c.directMu.Unlock()
	<-c.readerDone
	if c.watchdogDone != nil {
		<-c.watchdogDone
	}
}

// err returns the error the connection failed with, or nil.
func (c *conn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	defer c.dropPieces()
	for {
		c.mu.Lock()
		for c.failed == nil {
			if !c.hold.IsZero() {
				if wait := time.Until(c.hold); wait > 0 {
					c.mu.Unlock()
					c.sleep(wait)
					c.mu.Lock()
					continue
				}
				c.hold = time.Time{}
			}
			if len(c.pending) > 0 || len(c.retryQ) > 0 {
				break
			}
			c.mu.Unlock()
			<-c.wake
			// Let the callers that are runnable right now (typically the
			// ones the reader just handed replies to) queue their next
			// commands before we drain: one write for all of them.
			runtime.Gosched()
			c.mu.Lock()
		}
		if c.failed != nil {
			c.mu.Unlock()
			return
		}
		if len(c.retryQ) == 0 {
			c.batch, c.pending = c.pending, c.batch[:0]
		} else {
			c.batch = append(append(c.batch[:0], c.retryQ...), c.pending...)
			clear(c.retryQ)
			clear(c.pending)
			c.retryQ, c.pending = c.retryQ[:0], c.pending[:0]
		}
		if c.waiting {
			close(c.space)
			c.space = make(chan struct{})
			c.waiting = false
		}
		c.mu.Unlock()

		c.fillBuffer()
		c.mu.Lock()
		more := len(c.pending) > 0 && c.failed == nil
		c.mu.Unlock()
		if more && c.wlen < maxBatchBytes {
			continue // keep batching: the queue is not empty and the buffer not full
		}
		if err := c.flush(); err != nil {
			c.fail(err)
			return
		}
	}
}

// sleep waits d, or until the connection fails.
func (c *conn) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.dead:
	}
}

// fillBuffer puts the batch's requests into what goes out next (see put),
// injecting a SELECT where the database changes, and publishes them to the
// reader.
func (c *conn) fillBuffer() {
	publish := c.pub[:0]
	var rest []*request
	for i, r := range c.batch {
		if c.wlen >= maxBatchBytes {
			rest = c.batch[i:]
			break
		}
		if !r.takeForWrite() {
			putRequest(r) // the caller gave up while it was queued: not written here
			continue
		}
		if r.db != noDB && r.db != c.curDB {
			sel := getRequest()
			sel.buf = append(sel.buf, selectCommand(r.db)...)
			sel.db, sel.expect, sel.internal = noDB, 1, selectReply
			sel.state.Store(stWritten)
			sel.start = c.offset + int64(c.wlen)
			c.put(sel)
			publish = append(publish, sel)
			c.curDB = r.db
		}
		r.start = c.offset + int64(c.wlen)
		if r.seq == 0 {
			if c.wseq++; c.wseq == 0 {
				c.wseq = 1 // 0 is "not written here"
			}
			r.seq = c.wseq
		}
		c.put(r)
		publish = append(publish, r)
	}
	if len(publish) > 0 {
		if c.stats != nil {
			c.stats.commands.Add(int64(len(publish)))
		}
		c.fmu.Lock()
		c.flight = append(c.flight, publish...)
		c.fmu.Unlock()
		c.outstanding.Add(int64(len(publish)))
	}
	clear(publish)
	c.pub = publish[:0]
	if len(rest) > 0 {
		// The buffer is full: the rest waits at the head of the queue (a
		// batch of thousands of large commands would otherwise grow the
		// buffer past what flush keeps, and be copied as it grows).
		c.mu.Lock()
		c.pending = slices.Insert(c.pending, 0, rest...)
		c.mu.Unlock()
	}
	clear(c.batch)
	c.batch = c.batch[:0]
}

// put appends r's wire form to what goes out next: its buf, and its big
// arguments as pieces of their own when the socket takes vectors (else
// copied in their place).
func (c *conn) put(r *request) {
	c.wlen += r.size()
	if len(r.big) == 0 {
		c.wbuf = append(c.wbuf, r.buf...)
		return
	}
	if !c.vectored {
		c.wbuf = r.appendWire(c.wbuf)
		return
	}
	prev := 0
	for _, b := range r.big {
		c.wbuf = append(c.wbuf, r.buf[prev:b.at]...)
		prev = b.at
		c.cutPiece()
		c.iov = append(c.iov, unsafe.Slice(unsafe.StringData(b.s), len(b.s)))
	}
	c.wbuf = append(c.wbuf, r.buf[prev:]...)
}

// cutPiece ends the piece of wbuf that iov does not hold yet. (A piece
// keeps pointing at wbuf's array even if wbuf grows into a new one: its
// bytes stay what they were.)
func (c *conn) cutPiece() {
	if n := len(c.wbuf); n > c.iovMark {
		c.iov = append(c.iov, c.wbuf[c.iovMark:n:n])
		c.iovMark = n
	}
}

// writeOut writes what put gathered, in one system call when it can
// (write, or writev for pieces), and empties it; it returns how many bytes
// reached the kernel.
func (c *conn) writeOut() (int, error) {
	var n int
	var err error
	if len(c.iov) == 0 {
		n, err = c.nc.Write(c.wbuf)
	} else {
		c.cutPiece()
		c.wv = c.iov
		var n64 int64
		n64, err = c.wv.WriteTo(c.nc)
		n = int(n64)
		clear(c.iov) // the callers' strings are not kept alive from here
		c.iov, c.iovMark, c.wv = c.iov[:0], 0, nil
	}
	c.wbuf, c.wlen = c.wbuf[:0], 0
	if cap(c.wbuf) > 4*maxBatchBytes {
		c.wbuf = nil
	}
	if cap(c.iov) > maxPooledIOV {
		c.iov = nil
	}
	return n, err
}

// maxPooledIOV caps the piece list a connection keeps between writes.
const maxPooledIOV = 1024

// dropPieces forgets what put gathered without writing it (the writer is
// stopping): the callers' strings are not kept alive by a dead connection.
func (c *conn) dropPieces() {
	clear(c.iov)
	c.iov, c.iovMark, c.wv = nil, 0, nil
}

// flush writes the buffer, recording how much reached the kernel.
func (c *conn) flush() error {
	if c.wlen == 0 {
		return nil
	}
	if c.s.socketTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.socketTimeout))
	}
	if c.stats != nil {
		c.stats.writes.Add(1)
	}
	c.offset += int64(c.wlen)
	n, err := c.writeOut()
	c.written += int64(n)
	if err != nil {
		if isTimeout(err) {
			err = fmt.Errorf("%w: a write stalled for %v", ErrSocketTimeout, c.s.socketTimeout)
		}
		return connErr("write", err)
	}
	return nil
}

// selectCommand is SELECT db, encoded (once, for the first hundred).
func selectCommand(db int) []byte {
	if db >= 0 && db < len(selectCommands) {
		return selectCommands[db]
	}
	return resp.AppendCommandStrings(nil, "SELECT", itoa(db))
}

var selectCommands = func() [][]byte {
	s := make([][]byte, 100)
	for i := range s {
		s[i] = resp.AppendCommandStrings(nil, "SELECT", itoa(i))
	}
	return s
}()

// selectReply checks the reply to an injected SELECT. The database was
// validated before first use (see Mux.checkDB), so a refusal here means the
// server changed under us (an ACL change, a failover to a server with fewer
// databases): the commands after it ran in the wrong database. The reader
// stops at once, and they are all reported as MaybeExecuted.
func selectReply(c *conn, v resp.Value) error {
	if err := v.Err(); err != nil {
		return fmt.Errorf("%w: SELECT refused by the server: %w", ErrInvalidDB, err)
	}
	return nil
}

// connErr wraps an I/O failure as ErrConnection, keeping its cause.
func connErr(op string, err error) error {
	return &connError{op: op, err: err}
}

// connError is the cause of a RequestError for connection failures:
// errors.Is matches both ErrConnection and the underlying error.
type connError struct {
	op  string
	err error
}

func (e *connError) Error() string   { return "connection failed during " + e.op + ": " + e.err.Error() }
func (e *connError) Unwrap() []error { return []error{ErrConnection, e.err} }

// plainSocket reports whether nc is a plain TCP or unix socket (not TLS,
// not a custom dialer's wrapper). Only those write a net.Buffers with one
// system call (writev: through a wrapper each piece would be a write, or a
// TLS record, of its own, so big arguments are copied into the buffer
// instead), and only those can be peeked at (peeker.closed).
func plainSocket(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// isTimeout reports whether err is a timeout, as net.Error says.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// itoa formats small non-negative numbers without allocating for 0..99.
func itoa(n int) string {
	if n >= 0 && n < len(smallInts) {
		return smallInts[n]
	}
	return fmt.Sprint(n)
}

var smallInts = func() []string {
	s := make([]string, 100)
	for i := range s {
		s[i] = fmt.Sprint(i)
	}
	return s
}()
