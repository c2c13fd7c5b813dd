package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/justredis/justredis/resp"
)

// Dedicated connections carry what the shared connection cannot: blocking
// commands, WATCH transactions and anything else stateful (Mux.Dedicated).
// Each node keeps a small bounded set of them, dialled lazily and closed
// after DedicatedIdleTimeout unused. One runs one command at a time, so a
// blocked command stalls nobody but its caller.

// dconn is one dedicated connection.
type dconn struct {
	rc        *rawConn
	db        int             // the database selected on it
	idleSince time.Time       // when it was last returned to the pool
	quick     time.Duration   // socket timeout for commands that do not block (0: none)
	closing   context.Context // the Mux's: ends any I/O on it when the Mux closes
	poisoned  bool            // an interrupt may still fire on it: never reuse
	// readOnly: READONLY was sent on it. A connection dialled (or pooled)
	// before its node was set to serve reads as a replica (SetReadOnly)
	// lacks it, and is sent it before its next use (sayReadOnly).
	readOnly bool
}

// dedicatedPool is a node's set of dedicated connections.
type dedicatedPool struct {
	n   *Node
	sem chan struct{} // one token per connection open or being opened (bounds the set)

	mu     sync.Mutex
	idle   []*dconn    // guarded by mu: ready for use, most recently used last
	closed bool        // guarded by mu: the Mux is closed
	reaper *time.Timer // guarded by mu: closes idle connections; nil when none is scheduled
}

func newDedicatedPool(n *Node) *dedicatedPool {
	return &dedicatedPool{n: n, sem: make(chan struct{}, n.m.s.maxDedicated)}
}

// get returns a dedicated connection, waiting (with ctx) while the set is
// at its bound.
func (p *dedicatedPool) get(ctx context.Context) (*dconn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.n.m.ctx.Done():
		return nil, ErrClosed
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, ErrClosed
	}
	for n := len(p.idle); n > 0; n = len(p.idle) {
		dc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if dc.alive() {
			p.mu.Unlock()
			return p.ready(ctx, dc)
		}
		_ = dc.rc.nc.Close() // the server closed it while idle (its timeout setting)
	}
	p.mu.Unlock()
	rc, err := p.n.d.dial(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return p.ready(ctx, &dconn{rc: rc, quick: p.n.m.s.socketTimeout, closing: p.n.m.ctx})
}

// ready readies dc, taken from the set or just dialled, for get's caller:
// it says READONLY on it if it must (sayReadOnly). When that fails, dc is
// closed and its token given back.
func (p *dedicatedPool) ready(ctx context.Context, dc *dconn) (*dconn, error) {
	if err := p.sayReadOnly(ctx, dc); err != nil {
		_ = dc.rc.nc.Close()
		<-p.sem
		return nil, err
	}
	return dc, nil
}

// sayReadOnly sends READONLY on dc when its node serves reads as a
// cluster replica (Node.SetReadOnly) and dc has not said it yet: without
// it, the replica answers a read (a blocking XREAD, say) with MOVED to its
// master, and every such redirection costs a topology refresh. A
// connection the set kept from before the node was set read-only is
// caught up here too. The caller's ctx, and the Mux's closing, cut it
// short.
func (p *dedicatedPool) sayReadOnly(ctx context.Context, dc *dconn) error {
	if dc.readOnly || !p.n.readOnly.Load() {
		return nil
	}
	undo := dc.interruptible(ctx)
	err := readOnlyHandshake(ctx, dc.rc, p.n.m.s)
	undo()
	if err != nil || dc.poisoned { // poisoned: ctx ended, or the Mux closed, as it ran
		if dc.closed() {
			return ErrClosed
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	dc.readOnly = true
	return nil
}

// put returns dc to the set after a caller's own commands ran on it (Conn,
// Tx); reusable false (its state is unknown or dirty) closes it. Those
// commands may have left the READONLY mode (RESET, which Conn's reset
// sends, or READWRITE): READONLY is said again before the next use.
func (p *dedicatedPool) put(dc *dconn, reusable bool) {
	dc.readOnly = false
	p.release(dc, reusable)
}

// release is put for a connection whose READONLY mode is as it was when
// get returned it (a blocking command ran on it).
func (p *dedicatedPool) release(dc *dconn, reusable bool) {
	defer func() { <-p.sem }()
	p.mu.Lock()
	if !reusable || p.closed || dc.poisoned {
		p.mu.Unlock()
		_ = dc.rc.nc.Close()
		return
	}
	dc.idleSince = time.Now()
	p.idle = append(p.idle, dc)
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.n.m.s.dedicatedIdle, p.reap)
	}
	p.mu.Unlock()
}

// reap closes the connections idle for longer than DedicatedIdleTimeout.
func (p *dedicatedPool) reap() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reaper = nil
	if p.closed {
		return
	}
	cutoff := time.Now().Add(-p.n.m.s.dedicatedIdle)
	keep := p.idle[:0]
	for _, dc := range p.idle {
		if dc.idleSince.Before(cutoff) {
			_ = dc.rc.nc.Close()
		} else {
			keep = append(keep, dc)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	if len(p.idle) > 0 {
		p.reaper = time.AfterFunc(p.idle[0].idleSince.Sub(cutoff), p.reap)
	}
}

// close closes the idle connections; those in use are closed when returned.
func (p *dedicatedPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	for _, dc := range p.idle {
		_ = dc.rc.nc.Close()
	}
	p.idle = nil
}

// idleCount is the number of idle connections (for tests and stats).
func (p *dedicatedPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// roundTrip writes buf and reads n replies, bounded by ctx and by timeout
// when it is positive. On any failure the connection's state is unknown and
// the caller must not reuse it. Execution says whether buf may have reached
// the server.
func (dc *dconn) roundTrip(ctx context.Context, buf []byte, n int, timeout time.Duration) ([]resp.Value, Execution, error) {
	if err := ctx.Err(); err != nil {
		return nil, NotSent, err
	}
	if dc.closed() {
		return nil, NotSent, ErrClosed
	}
	nc := dc.rc.nc
	deadline, ok := ctx.Deadline()
	if timeout > 0 && (!ok || time.Until(deadline) > timeout) {
		deadline = time.Now().Add(timeout)
	}
	_ = nc.SetDeadline(deadline)
	defer dc.interruptible(ctx)()
	if w, err := nc.Write(buf); err != nil {
		exec := MaybeSent
		if w < len(buf) {
			exec = NotSent // the command never reached the server whole
		}
		return nil, exec, dc.ioErr(ctx, "write", err)
	}
	out := make([]resp.Value, 0, n)
	for len(out) < n {
		v, err := dc.rc.rd.ReadValue()
		if err != nil && badReply(err) {
			return out, MaybeSent, err // that reply's error, as on the shared connection
		}
		if err != nil {
			return out, MaybeSent, dc.ioErr(ctx, "read", err)
		}
		if v.Type == resp.TypePush {
			continue // tracking invalidations and the like: nobody asked
		}
		out = append(out, v)
	}
	return out, MaybeSent, nil
}

// closed reports whether the Mux has closed: then nothing more is written.
// A write that begins as Close runs may still go out (Close's interrupt
// comes asynchronously); its error says MaybeSent.
func (dc *dconn) closed() bool { return dc.closing != nil && dc.closing.Err() != nil }

// interruptible makes ctx's end, or the Mux's closing, interrupt I/O on dc
// (by a deadline in the past); the returned func undoes it. If the interrupt
// may fire after that, dc is poisoned: a later user's deadline could be
// overwritten.
func (dc *dconn) interruptible(ctx context.Context) func() {
	nc := dc.rc.nc
	interrupt := func() { _ = nc.SetDeadline(time.Unix(1, 0)) }
	stop1 := context.AfterFunc(ctx, interrupt)
	stop2 := func() bool { return true }
	if dc.closing != nil {
		stop2 = context.AfterFunc(dc.closing, interrupt)
	}
	return func() {
		if !stop1() || !stop2() {
			dc.poisoned = true
		}
		_ = nc.SetDeadline(time.Time{})
	}
}

// alive reports whether an idle connection still looks usable: nothing
// buffered, and a read that finds nothing (rather than EOF) right away.
func (dc *dconn) alive() bool {
	if dc.rc.rd.Buffered() > 0 {
		return false
	}
	nc := dc.rc.nc
	if _, ok := nc.(*tls.Conn); ok {
		return true // a TLS record layer is best not poked; the next command will tell
	}
	_ = nc.SetReadDeadline(time.Now())
	var b [1]byte
	_, err := nc.Read(b[:])
	_ = nc.SetReadDeadline(time.Time{})
	return isTimeout(err)
}

// ioErr explains a failed round trip: the caller's ctx if it ended, the
// Mux's closing, else the connection error.
func (dc *dconn) ioErr(ctx context.Context, op string, err error) error {
	if dc.closed() && ctx.Err() == nil {
		return ErrClosed
	}
	if ctxErr := ctxEnded(ctx); ctxErr != nil && (isTimeout(err) || ctx.Err() != nil) {
		return ctxErr // the socket deadline was ctx's, perhaps noticed first
	}
	if isTimeout(err) {
		return connErr(op, fmt.Errorf("%w: %w", ErrSocketTimeout, err))
	}
	return connErr(op, err)
}

// selectDB makes the dedicated connection use database db.
func (dc *dconn) selectDB(ctx context.Context, db int) error {
	if db == dc.db || db == noDB {
		return nil
	}
	vs, _, err := dc.roundTrip(ctx, selectCommand(db), 1, dc.quick)
	if err != nil {
		return err
	}
	if e := vs[0].Err(); e != nil {
		return &CommandError{Command: "SELECT", Err: fmt.Errorf("%w %d: %w", ErrInvalidDB, db, e)}
	}
	dc.db = db
	return nil
}

// doBlocking runs one command (already encoded in r, which the caller keeps)
// on a dedicated connection: how blocking commands run without stalling the
// shared one. Cancelling ctx (or closing the Mux) closes that connection. It
// follows MOVED and ASK like the shared path, and retries by the same rules.
func (m *Mux) doBlocking(ctx context.Context, r *request, pin *Node) (resp.Value, error) {
	node := pin
	r.routed = pin == nil // what readElsewhere asks
	// attempts counts every try (for the error); retried the re-sends
	// that use the retry budget, which redirections do not.
	attempts, retried, redirects, asking := 0, 0, 0, false
	for {
		if node == nil {
			n, err := m.route(ctx, r.slot, r.readOnly)
			if err != nil {
				return resp.Value{}, &RequestError{Exec: NotSent, Attempts: attempts, Err: err}
			}
			node = n
		}
		attempts++
		buf, n := r.buf, 1
		if asking {
			buf, n = append(askingCommand[:len(askingCommand):len(askingCommand)], r.buf...), 2
		}
		v, exec, err := m.blockingOnce(ctx, node, r.db, buf, n)
		if err != nil && m.closed.Load() && errors.Is(err, context.Canceled) {
			err = ErrClosed
		}
		if err == nil {
			e, ok := v.Err().(*resp.Error)
			if !ok {
				return v, nil
			}
			if e.IsRedirect() && pin == nil && redirects < maxRedirects && ctx.Err() == nil {
				addr := redirectAddr(e.Addr, node)
				if e.Prefix == "MOVED" {
					m.router.Moved(e.Slot, addr)
				}
				if next := m.Node(addr); next != nil {
					node, asking = next, e.Prefix == "ASK"
					redirects++
					continue
				}
			}
			switch e.Prefix {
			case "LOADING", "TRYAGAIN", "CLUSTERDOWN":
				// "Not now": the command did not run. Pause and re-send,
				// within the retry budget, as call.again does.
				if retried >= r.retries || ctx.Err() != nil {
					break
				}
				next, told := m.readElsewhere(ctx, node, r, e.Prefix, e)
				if next != nil {
					node, asking = next, false
					retried++
					continue
				}
				if e.Prefix != "LOADING" && !told {
					m.router.Trouble(node, e)
				}
				if e.Prefix == "CLUSTERDOWN" && pin == nil {
					node = nil // the slot may have a new owner by then
				}
				if sleepCtx(ctx, notNowPause(e.Prefix)) == nil {
					asking = false
					retried++
					continue
				}
			}
			return v, e
		}
		sharded := pin == nil && m.router.Sharded()
		retry := (exec == NotSent || r.safe) && retried < r.retries && ctx.Err() == nil &&
			!errors.Is(err, ErrClosed) && !errors.Is(err, ErrAuth) && !isCommandError(err) && !badReply(err)
		if !retry {
			return resp.Value{}, &RequestError{Addr: node.addr(), Exec: exec, Attempts: attempts, Err: err}
		}
		retried++
		if sharded {
			m.router.Trouble(node, err)
			node, asking = nil, false
		}
	}
}

// blockingOnce runs buf (n replies; the last is the answer) on a dedicated
// connection of node.
func (m *Mux) blockingOnce(ctx context.Context, node *Node, db int, buf []byte, n int) (resp.Value, Execution, error) {
	if m.closed.Load() {
		return resp.Value{}, NotSent, ErrClosed
	}
	p := node.pool
	dc, err := p.get(ctx)
	if err != nil {
		return resp.Value{}, NotSent, err
	}
	if err := dc.selectDB(ctx, db); err != nil {
		p.put(dc, false)
		return resp.Value{}, NotSent, err
	}
	vs, exec, err := dc.roundTrip(ctx, buf, n, 0)
	p.release(dc, err == nil)
	if err != nil {
		return resp.Value{}, exec, err
	}
	return vs[len(vs)-1], MaybeSent, nil
}

func isCommandError(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce)
}
