package client

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/justredis/justredis/resp"
)

// psConn is one pub/sub connection: commands are written with a waiter for
// their confirmations; one goroutine reads.
type psConn struct {
	h    *pubsubHub
	rc   *rawConn
	dead chan struct{} // closed when it has failed

	mu      sync.Mutex
	waiters []*psWaiter // guarded by mu: in the order their commands were written
	failed  error       // guarded by mu
}

// psWaiter waits for a command's confirmations (one per channel, pattern or
// PING). onDone, if set, runs on the reader (or on the failing goroutine)
// when they have arrived or the connection failed.
type psWaiter struct {
	left   int
	done   chan error // capacity 1
	onDone func(error)
}

func newWaiter(confirmations int, onDone func(error)) *psWaiter {
	return &psWaiter{left: confirmations, done: make(chan error, 1), onDone: onDone}
}

// finish completes the waiter; called once, under the connection's mu.
func (w *psWaiter) finish(err error) {
	if w.onDone != nil {
		w.onDone(err)
	}
	w.done <- err
}

// wait waits for the confirmations or ctx.
func (w *psWaiter) wait(ctx context.Context) error {
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *psConn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// send writes a command; w is told when its confirmations have arrived.
// On failure w is not registered (and not finished).
func (c *psConn) send(args []string, w *psWaiter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return c.failed
	}
	c.waiters = append(c.waiters, w)
	if t := c.h.m.s.socketTimeout; t > 0 {
		_ = c.rc.nc.SetWriteDeadline(time.Now().Add(t))
	}
	if _, err := c.rc.nc.Write(resp.AppendCommandStrings(nil, args...)); err != nil {
		c.waiters = c.waiters[:len(c.waiters)-1]
		err = connErr("write", err)
		c.failLocked(err)
		return err
	}
	return nil
}

// fail closes the connection and fails the waiting commands.
func (c *psConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failLocked(err)
}

func (c *psConn) failLocked(err error) {
	if c.failed != nil {
		return
	}
	c.failed = err
	close(c.dead)
	_ = c.rc.nc.Close()
	for _, w := range c.waiters {
		w.finish(err)
	}
	c.waiters = nil
}

// readLoop reads messages and confirmations until the connection fails.
func (c *psConn) readLoop() {
	defer c.h.m.bg.Done()
	for {
		v, err := c.rc.rd.ReadValue()
		if err != nil {
			c.h.lost(c) // first, so that no other connection can start unnoticed
			c.fail(readError(err))
			return
		}
		c.handle(v)
	}
}

// handle routes one value: a message to its subscribers, anything else to
// the oldest waiting command.
func (c *psConn) handle(v resp.Value) {
	if (v.Type == resp.TypePush || v.Type == resp.TypeArray) && len(v.Elems) > 0 {
		switch kind := strings.ToLower(v.Elems[0].Str); kind {
		case "message":
			if len(v.Elems) == 3 {
				c.h.dispatch(kindChannel, v.Elems[1].Str, Message{Kind: KindMessage, Channel: v.Elems[1].Str, Payload: v.Elems[2].Str})
			}
			return
		case "smessage":
			if len(v.Elems) == 3 {
				c.h.dispatch(kindShard, v.Elems[1].Str, Message{Kind: KindSMessage, Channel: v.Elems[1].Str, Payload: v.Elems[2].Str})
			}
			return
		case "sunsubscribe":
			if len(v.Elems) >= 2 && c.h.unsubscribedByServer(v.Elems[1].Str) {
				return
			}
		case "pmessage":
			if len(v.Elems) == 4 {
				c.h.dispatch(kindPattern, v.Elems[1].Str, Message{Kind: KindPMessage, Pattern: v.Elems[1].Str,
					Channel: v.Elems[2].Str, Payload: v.Elems[3].Str})
			}
			return
		}
	}
	var err error
	if v.IsError() {
		err = v.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return // a confirmation nobody waits for (e.g. an UNSUBSCRIBE sent by Close)
	}
	w := c.waiters[0]
	w.left--
	if err != nil || w.left <= 0 {
		c.waiters = c.waiters[1:]
		w.finish(err)
	}
}
