package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/justredis/justredis/resp"
)

// Direct mode. A connection starts without its writer and reader
// goroutines: while only one caller at a time uses it, that caller writes its
// request and reads the reply itself, which saves two goroutine hand-offs
// per command (a lone caller pays no extra latency). The first time a caller
// finds another one mid round trip, the connection switches, for good, to
// the pipelined mode of conn.go. Only plain TCP and unix connections whose
// closing can be noticed without reading (peeker.closed) start in direct mode.
//
// Ownership: directMu is held by the caller doing a round trip; while the
// mode is direct, nc, rd, curDB and the output offset belong to its holder.
// The switch is made by whoever holds directMu once wantPipelined is set, so
// that no round trip is cut in half: the callers that arrive meanwhile queue
// up and are written as soon as the round trip in progress ends (once in the
// connection's life; a slow command there delays them by its duration).

const (
	modeDirect int32 = iota
	modePipelined
)

// tryDirect runs r by a direct round trip if the connection is in direct
// mode and idle. It reports whether it did (r is then completed, failed or,
// if ctx ended, failed with ctx's error). When another caller holds the
// connection, it asks for the switch and reports false: r goes through the
// queue.
func (c *conn) tryDirect(ctx context.Context, r *request) bool {
	if c.mode.Load() != modeDirect {
		return false
	}
	if !c.directMu.TryLock() {
		c.wantPipelined.Store(true)
		return false
	}
	if c.mode.Load() != modeDirect || c.isDead.Load() || c.wantPipelined.Load() {
		c.directMu.Unlock()
		c.maybeSwitch()
		return false
	}
	if c.rd.Buffered() > 0 {
		c.directMu.Unlock() // something unasked arrived with the last reply
		c.wantPipelined.Store(true)
		c.maybeSwitch()
		return false
	}
	if closed, err := c.peek.closed(); closed || err != nil {
		// The server closed it while it was idle, or sent something
		// unasked: never written, so r can go through the failure path.
		if err == errPeekData {
			c.directMu.Unlock()
			c.wantPipelined.Store(true)
			c.maybeSwitch()
			return false
		}
		// Failed holding directMu, as close does: released first, a
		// caller switching to pipelined mode meanwhile would start the
		// goroutines of a connection that endDirect then finishes.
		c.failDirect(connErr("read", errors.New("server closed the connection while it was idle")), nil)
		c.directMu.Unlock()
		return false // enqueue will refuse it; the caller redials
	}
	c.roundTrip(ctx, r)
	c.directMu.Unlock()
	c.maybeSwitch()
	return true
}

// askPipelined asks a connection in direct mode to switch to pipelined mode
// (made by maybeSwitch, or by the round trip in progress when it ends).
func (c *conn) askPipelined() {
	if c.mode.Load() == modeDirect {
		c.wantPipelined.Store(true)
	}
}

// maybeSwitch switches to pipelined mode if a caller asked for it and no
// round trip is in progress.
func (c *conn) maybeSwitch() {
	if !c.wantPipelined.Load() || c.mode.Load() != modeDirect || !c.directMu.TryLock() {
		return
	}
	if c.mode.Load() == modeDirect && !c.isDead.Load() {
		c.goPipelined()
	}
	c.directMu.Unlock()
}

// writeDirect writes r for a round trip, after sel (an encoded SELECT, or
// nothing): r's own buffer as it is when nothing has to go with it, else
// through the writer's buffer (which the round trip owns).
func (c *conn) writeDirect(r *request, sel []byte) (int, error) {
	if len(sel) == 0 && len(r.big) == 0 {
		return c.nc.Write(r.buf)
	}
	c.wbuf = append(c.wbuf[:0], sel...)
	c.wlen = len(sel)
	c.put(r)
	return c.writeOut()
}

// roundTrip writes r and reads its replies on the caller's goroutine. The
// caller holds directMu.
func (c *conn) roundTrip(ctx context.Context, r *request) {
	if c.stats != nil {
		c.stats.writes.Add(1)
		c.stats.commands.Add(1)
	}
	var sel []byte
	selectReplies := 0
	if r.db != noDB && r.db != c.curDB {
		sel, selectReplies = selectCommand(r.db), 1
	}
	total := len(sel) + r.size()
	r.state.Store(stWritten)
	r.attempts.Add(1)
	r.start = c.offset + int64(len(sel))
	deadline, _ := ctx.Deadline()
	if t := c.s.socketTimeout; t > 0 {
		if d := time.Now().Add(t); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	_ = c.nc.SetDeadline(deadline)
	stop := noStop
	if done := ctx.Done(); done != nil {
		c.imu.Lock()
		if done != c.idone {
			// One registration per context, kept for the next round trips
			// with the same one (a worker's long-lived ctx): AfterFunc
			// allocates, and interrupt only acts while armed.
			if c.istop != nil {
				c.istop()
			}
			c.idone, c.istop = done, context.AfterFunc(ctx, func() { c.interrupt(done) })
		}
		// Armed in the same hold of imu as idone is swapped: armed with
		// the last round trip's context still in idone, that context's
		// end (its caller's deferred cancel, say) would cut this round
		// trip short.
		c.armed = true
		c.imu.Unlock()
		defer c.armInterrupt(false)
	}
	if err := ctx.Err(); err != nil {
		// Checked once armed: an interrupt registered earlier for ctx,
		// which ran before, does not run again. The deadline set above
		// (ctx's, passed) or by the interrupt must not stay on the idle
		// socket: the next round trip's peek would take it for a close.
		c.disarm()
		r.fail(err, NotSent)
		return
	}
	n, err := c.writeDirect(r, sel)
	if err != nil && n == 0 {
		if ctxErr := ctxEnded(ctx); ctxErr != nil {
			// Interrupted before a byte went out: the connection is fine,
			// and its stream is as it was (offset and written unchanged).
			stop()
			c.disarm()
			r.fail(ctxErr, NotSent)
			return
		}
	}
	c.offset += int64(total)
	c.written += int64(n)
	if err != nil {
		stop()
		exec := MaybeSent
		if n < total {
			exec = NotSent // the command never reached the server whole
		}
		c.failDirect(c.directErr("write", err), &directFailure{r: r, exec: exec})
		return
	}
	if selectReplies > 0 {
		// Written whole: the server runs the SELECT whatever becomes of
		// this round trip (a refusal fails the connection, selectReply),
		// so the next command must not think the old database selected.
		c.curDB = r.db
		v, err := c.rd.ReadValue()
		if err == nil {
			c.replies.Add(1)
			if e := selectReply(c, v); e != nil {
				stop()
				c.failDirect(connErr("SELECT", e), &directFailure{r: r, exec: MaybeSent})
				return
			}
		} else if c.interrupted(ctx, err, stop, r, 1+r.expect, true) {
			return
		} else {
			c.failDirect(c.directErr("read", err), &directFailure{r: r, exec: MaybeSent})
			return
		}
	}
	for got := 0; got < r.expect; {
		v, err := c.rd.ReadValue()
		if err != nil && badReply(err) {
			// Malformed in a sound frame: that reply's error (readLoop).
			c.replies.Add(1)
			if framedType(err) == resp.TypePush {
				c.badPush()
				continue
			}
			got++
			if got == r.expect {
				stop()
				c.disarm()
			}
			r.deliverBad(err)
			continue
		}
		if err != nil {
			if c.interrupted(ctx, err, stop, r, r.expect-got, false) {
				return
			}
			c.failDirect(c.directErr("read", err), &directFailure{r: r, exec: MaybeSent})
			return
		}
		c.replies.Add(1)
		if v.Type == resp.TypePush {
			if c.onPush != nil {
				c.onPush(v)
			}
			continue
		}
		got++
		if got == r.expect {
			stop()
			c.disarm()
		}
		r.deliver(v)
	}
}

// noStop stands for context.AfterFunc's stop when there is nothing to stop.
func noStop() bool { return true }

// interrupt makes the direct round trip in progress return at once, if
// it runs for the context whose Done is done. Run late — after its round
// trip ended, or once the connection moved on to another context (stop
// does not wait for a callback already started) — it does nothing: another
// round trip must not be cut short by a context that is not its own.
func (c *conn) interrupt(done <-chan struct{}) {
	c.imu.Lock()
	if c.armed && c.idone == done {
		_ = c.nc.SetDeadline(time.Unix(1, 0))
	}
	c.imu.Unlock()
}

// unregisterInterrupt drops the interrupt registered for the last round
// trips' context, if any.
func (c *conn) unregisterInterrupt() {
	c.imu.Lock()
	if c.istop != nil {
		c.istop() // does not wait for interrupt (which takes imu)
		c.idone, c.istop = nil, nil
	}
	c.imu.Unlock()
}

// armInterrupt lets interrupt act (during a round trip) or not.
func (c *conn) armInterrupt(on bool) {
	c.imu.Lock()
	c.armed = on
	c.imu.Unlock()
}

// disarm ends a round trip's exposure to its context and clears the
// socket's deadline, both at once: stop does not wait for an interrupt
// already started, and one that ran after the deadline was cleared would set
// it again, failing the next read (a pipelined reader's, or the next round
// trip's peek) for a context that is no longer anyone's.
func (c *conn) disarm() {
	c.imu.Lock()
	c.armed = false
	_ = c.nc.SetDeadline(time.Time{})
	c.imu.Unlock()
	if c.afterDisarm != nil {
		c.afterDisarm()
	}
}

// interrupted handles a read cut short by ctx: the caller leaves with ctx's
// error (the command may have run), and the replies still to come are left
// to the reader goroutine, started now, which reads and drops them (the
// first, when sel, is an injected SELECT's, checked as the writer's are).
// It reports false when the read failed for another reason.
func (c *conn) interrupted(ctx context.Context, err error, stop func() bool, r *request, left int, sel bool) bool {
	stop()
	ctxErr := ctxEnded(ctx)
	if ctxErr == nil || !isTimeout(err) {
		return false
	}
	c.disarm()
	c.fmu.Lock()
	for i := 0; i < left; i++ {
		d := getRequest()
		d.db, d.expect = noDB, 1
		d.internal = dropReply
		if sel && i == 0 {
			d.internal = selectReply
		}
		d.state.Store(stWritten)
		d.start = c.offset // written: what it stands for was, in full
		c.flight = append(c.flight, d)
	}
	c.fmu.Unlock()
	c.outstanding.Add(int64(left))
	r.fail(ctxErr, MaybeSent)
	c.goPipelined()
	return true
}

// dropReply takes the reply of a request whose caller has left.
func dropReply(*conn, resp.Value) error { return nil }

// ctxEnded returns ctx's error, or DeadlineExceeded once its deadline has
// passed even if its timer has not fired yet (a socket deadline set from it
// can notice first).
func ctxEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// directErr turns an I/O error of a direct round trip into the connection's
// failure.
func (c *conn) directErr(op string, err error) error {
	if isTimeout(err) {
		return connErr(op, fmt.Errorf("%w: no reply for %v", ErrSocketTimeout, c.s.socketTimeout))
	}
	if op == "read" {
		return readError(err)
	}
	return connErr(op, err)
}

// directFailure is the request a failed direct round trip was carrying.
type directFailure struct {
	r    *request
	exec Execution
}

// failDirect fails a connection in direct mode and settles what it held: the
// request of the round trip (if any) and whatever queued up while callers
// were asking for the switch. Like drain, it replays what may be replayed.
func (c *conn) failDirect(err error, held *directFailure) {
	c.fail(err)
	err = c.err()
	var replay []*request
	if held != nil {
		replay = c.settle(held.r, err, held.exec, true, replay)
	}
	c.mu.Lock()
	queued := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, r := range queued {
		replay = c.settle(r, err, NotSent, false, replay)
	}
	// The replays are handed over before endDirect wakes those waiting for
	// the connection's end: one of them dialling first could write its
	// command ahead of them.
	if c.onFailed != nil {
		c.onFailed(c, replay, err)
	} else {
		for _, r := range replay {
			r.fail(err, NotSent)
		}
	}
	c.endDirect()
}

// endDirect marks a connection that never left direct mode as finished:
// there are no goroutines to wait for. Its callers hold directMu in direct
// mode; in pipelined mode the goroutines close writerDone and readerDone
// themselves, so it must not.
func (c *conn) endDirect() {
	c.unregisterInterrupt()
	if c.mode.Load() != modeDirect {
		return
	}
	c.endOnce.Do(func() {
		close(c.writerDone)
		close(c.readerDone)
	})
}

// goPipelined starts the writer and reader goroutines (and the watchdog):
// from now on the connection is pipelined. The caller holds directMu (or the
// connection was never direct).
func (c *conn) goPipelined() {
	c.unregisterInterrupt()
	c.mode.Store(modePipelined)
	// One tracked goroutine, the reader, outlives the writer and the
	// watchdog (it waits for both as it ends), so Close waits for all three.
	started := c.spawn(func() {
		if c.s.socketTimeout > 0 {
			c.startWatchdog()
		}
		go c.writeLoop()
		c.readLoop()
	})
	if !started {
		c.mode.Store(modeDirect)
		c.failDirect(ErrClosed, nil)
		return
	}
	// Requests queued while callers asked for the switch are the writer's.
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
