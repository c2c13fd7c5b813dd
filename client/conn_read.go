package client

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/justredis/justredis/resp"
)

func (c *conn) readLoop() {
	defer func() {
		if c.watchdogDone != nil {
			<-c.watchdogDone
		}
		close(c.readerDone)
	}()
	var err error
	for {
		var v resp.Value
		if v, err = c.rd.ReadValue(); err != nil {
			if !badReply(err) {
				break
			}
			// A reply the server sent malformed, in a frame that is sound:
			// its caller gets the error, and the stream reads on.
			c.replies.Add(1)
			if framedType(err) == resp.TypePush {
				c.badPush()
				continue // it belonged to no request
			}
			r := c.head()
			if r == nil || r.internal != nil {
				break // fails the connection, as any bad reply to SELECT does
			}
			if r.deliverBad(err) {
				c.pop()
			}
			err = nil
			continue
		}
		c.replies.Add(1)
		if v.Type == resp.TypePush {
			// Out-of-band RESP3 data (a tracking invalidation, a stray
			// pub/sub message): it belongs to no request.
			if c.onPush != nil {
				c.onPush(v)
			}
			continue
		}
		r := c.head()
		if r == nil {
			err = fmt.Errorf("%w: a reply arrived with no request waiting for it: %v", resp.ErrProtocol, v)
			break
		}
		if r.internal != nil {
			ierr := r.internal(c, v)
			c.pop()
			putRequest(r)
			if ierr != nil {
				// Stop before delivering another reply: the commands after
				// it did not run where their callers meant them to.
				err = ierr
				break
			}
			continue
		}
		if c.turnAway != nil && r.resend && v.Type == resp.TypeError && len(r.replies) == r.expect-1 {
			if e, ok := v.Err().(*resp.Error); ok && c.turnAway(c, r, e) {
				c.pop() // it goes on elsewhere, or again here later
				continue
			}
		}
		if r.deliver(v) {
			c.pop()
		}
	}
	if errors.Is(err, ErrInvalidDB) {
		err = connErr("SELECT", err)
	} else {
		err = readError(err)
	}
	c.fail(err)
	c.drain()
}

// head returns the oldest request waiting for a reply, or nil.
func (c *conn) head() *request {
	if c.li == len(c.local) {
		clear(c.local)
		c.fmu.Lock()
		c.local, c.flight = c.flight, c.local[:0]
		c.fmu.Unlock()
		c.li = 0
		if len(c.local) == 0 {
			return nil
		}
	}
	return c.local[c.li]
}

// pop removes the head request (the reader no longer owns it).
func (c *conn) pop() {
	c.local[c.li] = nil
	c.li++
	c.outstanding.Add(-1)
}

// drain settles every request the failed connection still holds, once the
// writer has stopped and it is known how many bytes it handed to the kernel,
// in the order they were issued: the written ones and those the server
// turned away ("not now": retryQ) by the order of their first write (seq;
// write order alone would put one turned away, then written again, after
// those issued after it), then the queued ones.
func (c *conn) drain() {
	<-c.writerDone
	err := c.err()
	var replay []*request
	type held struct {
		r       *request
		written bool // in flight; else waiting in retryQ, queued again
	}
	var all []held
	c.mu.Lock()
	for _, r := range c.retryQ {
		all = append(all, held{r, false})
	}
	c.retryQ = nil
	c.mu.Unlock()
	for {
		r := c.head()
		if r == nil {
			break
		}
		c.pop()
		if r.internal != nil {
			putRequest(r)
			continue
		}
		all = append(all, held{r, true})
	}
	// By seq, modulo 2^32: serial-number order, right across a wrap.
	slices.SortStableFunc(all, func(a, b held) int { return cmp.Compare(int32(a.r.seq-b.r.seq), 0) })
	for _, h := range all {
		r := h.r
		if !h.written {
			replay = c.settle(r, err, NotSent, false, replay)
			continue
		}
		// A request whose last byte never reached the kernel never reached
		// the server whole: the server cannot have run it (nor, for a
		// transaction, the commands before its EXEC).
		exec := MaybeSent
		if r.start+int64(r.size()) > c.written {
			exec = NotSent
		}
		replay = c.settle(r, err, exec, true, replay)
	}
	c.mu.Lock()
	queued := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, r := range queued {
		replay = c.settle(r, err, NotSent, false, replay)
	}
	if c.onFailed != nil {
		c.onFailed(c, replay, err)
		return
	}
	for _, r := range replay {
		r.fail(err, NotSent)
	}
}

// settle decides the fate of one request of a failed connection (written
// on it, or still queued): replay it (appended to replay, back in a queued
// state) or fail it.
func (c *conn) settle(r *request, err error, exec Execution, written bool, replay []*request) []*request {
	if exec == MaybeSent {
		r.everSent.Store(true)
	}
	if r.retries > 0 && (exec == NotSent || r.safe) && replayable(err) {
		var claimed bool
		if written {
			claimed = r.state.CompareAndSwap(stWritten, r.queuedState())
		} else {
			claimed = r.claimQueued()
		}
		if !claimed {
			putRequest(r) // abandoned by its caller
			return replay
		}
		r.retries--
		r.resetResult() // replies from this connection must not count on the next
		return append(replay, r)
	}
	r.fail(err, exec)
	return replay
}

// replayable reports whether requests of a connection that failed with err
// may be sent again on another: not when the client is closing.
func replayable(err error) bool {
	return !errors.Is(err, ErrClosed)
}

// badPush hands on a push frame that was malformed in a sound frame as an
// empty one: it is counted as a push nobody owned, its content lost.
func (c *conn) badPush() {
	if c.onPush != nil {
		c.onPush(resp.Value{Type: resp.TypePush})
	}
}

// badReply reports whether err is a reply that was malformed in a frame that
// is still sound (resp.ProtocolError.Framed): it costs that reply alone.
func badReply(err error) bool { return framedType(err) != 0 }

// framedType is the type of the top-level value that err, a bad value in a
// sound frame as the Reader returned it, was read from; 0 for any other
// error. Not through wrapping: a connection failure that wraps one (a bad
// handshake reply, say) is a connection failure.
func framedType(err error) resp.Type {
	if pe, ok := err.(*resp.ProtocolError); ok {
		return pe.Framed
	}
	return 0
}

// replyError is err when err is a server's error reply as the caller got
// it (a *resp.Error, not wrapped), and nil for anything else. Not through
// wrapping, unlike resp.ErrorPrefix: a connection failure may wrap a
// reply (ErrAuth wraps WRONGPASS, a refused SELECT its refusal), and it
// says nothing of the command.
func replyError(err error) *resp.Error {
	e, _ := err.(*resp.Error)
	return e
}

// readError describes why the reader stopped.
func readError(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return connErr("read", fmt.Errorf("server closed the connection: %w", err))
	case errors.Is(err, resp.ErrProtocol):
		return connErr("read", err)
	}
	return connErr("read", err)
}

// startWatchdog fails the connection when commands wait SocketTimeout
// without any reply arriving (see watchStalls).
func (c *conn) startWatchdog() {
	c.watchdogDone = make(chan struct{})
	go func() {
		defer close(c.watchdogDone)
		watchStalls(c.s.socketTimeout, c.dead, c.replies.Load, func() bool { return c.outstanding.Load() > 0 },
			func(err error) { c.fail(connErr("read", err)) })
	}()
}

// watchStalls calls fail, once, when a connection's commands have waited
// timeout without any reply arriving, and returns; or returns when dead is
// closed. replies counts the values read so far; busy says whether
// commands wait for replies. It samples them every half timeout: a stall
// is two whole periods with commands waiting and no value read.
func watchStalls(timeout time.Duration, dead <-chan struct{}, replies func() uint64, busy func() bool, fail func(error)) {
	t := time.NewTicker(max(timeout/2, time.Millisecond)) // a SocketTimeout of 1ns must not panic
	defer t.Stop()
	var last [2]uint64 // replies at the previous two ticks
	var waited [2]bool // commands waiting at the previous two ticks
	for {
		select {
		case <-dead:
			return
		case <-t.C:
		}
		now := replies()
		if waited[0] && last[0] == now && last[1] == now {
			fail(fmt.Errorf("%w: no reply for %v", ErrSocketTimeout, timeout))
			return
		}
		last[0], waited[0] = last[1], waited[1]
		last[1], waited[1] = now, busy()
	}
}
