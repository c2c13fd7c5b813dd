package client

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/justredis/justredis/resp"
)

// psConn is one pub/sub connection: commands are written with a waiter for
// their confirmations; one goroutine reads.
type psConn struct {
	h    *pubsubHub
	n    *Node // the node it is connected to (for the router's Trouble)
	rc   *rawConn
	dead chan struct{} // closed when it has failed

	mu      sync.Mutex
	waiters []*psWaiter // guarded by mu: in the order their commands were written
	// failed: why it failed. Guarded by mu; set before dead is closed, so
	// that it may be read without mu once dead is.
	failed error

	replies atomic.Uint64 // values read, for the watchdog (watchStalls)

	// lostEarly: the reader told the hub the connection was lost before
	// the hub installed it; lostCause is why. Guarded by the hub's mu.
	lostEarly bool
	lostCause error

	// byUs: the client failed it on purpose (an unsubscribe refused: see
	// failOnRefusedUnsub), not the node: the router is not told.
	byUs atomic.Bool
}

// psWaiter waits for a command's confirmations (one per channel, pattern or
// PING). onDone, if set, runs on the reader (or on the failing goroutine)
// when they have arrived or the connection failed.
//
// An SUNSUBSCRIBE is the one command whose confirmations look exactly like
// something the server sends on its own (a shard channel dropped because
// its slot moved), and whose confirmations may be replaced by a single
// error (MOVED, CROSSSLOT). So it is always sent together with a PING, and
// its waiter (newShardUnsubWaiter) takes an sunsubscribe only for a channel
// it still expects, takes an error as the SUNSUBSCRIBE's, and ends with the
// PING's answer: however the server answers, the replies never shift onto
// the next waiter.
type psWaiter struct {
	left  int
	unsub map[string]int // SUNSUBSCRIBE waiters only: confirmations still due, by channel; guarded by the connection's mu once sent
	err   error          // SUNSUBSCRIBE waiters only: the SUNSUBSCRIBE's error answer; guarded by the connection's mu
	// answered: SUNSUBSCRIBE waiters only: the SUNSUBSCRIBE's answer (an
	// error, or a confirmation) has come, so what comes next is the
	// PING's, error or not. Guarded by the connection's mu.
	answered bool
	done     chan error // capacity 1
	onDone   func(error)
}

func newWaiter(confirmations int, onDone func(error)) *psWaiter {
	return &psWaiter{left: confirmations, done: make(chan error, 1), onDone: onDone}
}

// newShardUnsubWaiter waits for an SUNSUBSCRIBE of channels sent together
// with a PING (see psWaiter): its one awaited answer is the PING's.
func newShardUnsubWaiter(channels []string) *psWaiter {
	w := &psWaiter{left: 1, unsub: make(map[string]int, len(channels)), done: make(chan error, 1)}
	for _, ch := range channels {
		w.unsub[ch]++
	}
	return w
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

// send writes commands in one write; w is told when their confirmations
// have arrived. On failure w is not registered (and not finished).
func (c *psConn) send(w *psWaiter, cmds ...[]string) error {
	var buf []byte
	for _, args := range cmds {
		buf = resp.AppendCommandStrings(buf, args...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return c.failed
	}
	c.waiters = append(c.waiters, w)
	if t := c.h.m.s.socketTimeout; t > 0 {
		_ = c.rc.nc.SetWriteDeadline(time.Now().Add(t))
	}
	if _, err := c.rc.nc.Write(buf); err != nil {
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
// Once it has failed (here, or elsewhere: a refused unsubscribe, the
// watchdog), what it had buffered is not handled: its messages would reach
// the subscribers after those of the connection that replaces it, and our
// own late sunsubscribe confirmations would pass for the server dropping
// the channels.
func (c *psConn) readLoop() {
	defer c.h.m.bg.Done()
	for {
		v, err := c.rc.rd.ReadValue()
		if err == nil {
			c.replies.Add(1) // progress, for the watchdog, before it looks again
		}
		if err == nil && !c.isDead() {
			c.handle(v)
			continue
		}
		var cause error
		if c.isDead() {
			cause = c.failed // failed elsewhere first (set before dead was closed)
		} else {
			cause = readError(err) // not dead: err is set
		}
		c.h.lost(c, cause) // first, so that no other connection can start unnoticed
		if err != nil {
			c.fail(cause)
		}
		return
	}
}

// watch fails the connection when commands (SUBSCRIBE, UNSUBSCRIBE, PING...)
// wait SocketTimeout for their confirmations with nothing read meanwhile,
// as a command connection's watchdog does: a server that stopped answering
// (paused, or a peer gone without a reset) must not hold a Subscribe whose
// ctx has no deadline for ever. The reader then sees the closed socket and
// the hub reconnects.
//
// An idle connection is checked too: a subscriber may hear nothing for
// hours, and a peer gone without a reset (a host down, a NAT's mapping
// dropped) would go unnoticed all that time, the subscriber losing every
// message. When a whole period of the watchdog (timeout/2) has passed with
// nothing read and nothing waited for, it sends a PING with a waiter: the
// watchdog then fails the connection if no answer comes within timeout,
// and the hub reconnects (or re-homes) and tells the subscribers, as for
// any loss. Runs until the connection fails.
func (c *psConn) watch(timeout time.Duration) {
	defer c.h.m.bg.Done()
	var seen uint64 // values read at the previous tick
	var quiet bool  // nothing was waited for at the previous tick
	watchStalls(timeout, c.dead, c.replies.Load, func() bool {
		now := c.replies.Load()
		c.mu.Lock()
		waiting := len(c.waiters) > 0
		c.mu.Unlock()
		idle := quiet && !waiting && now == seen // a whole period with nothing read nor waited for
		seen, quiet = now, !waiting
		if !idle {
			return waiting
		}
		quiet = false
		// A failed write fails c, which ends the watchdog.
		return c.send(newWaiter(1, nil), []string{"PING"}) == nil
	}, func(err error) { c.fail(connErr("read", err)) })
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
			// Ours only if the oldest waiting command is an SUNSUBSCRIBE
			// still expecting it; otherwise the server dropped the channel.
			if len(v.Elems) >= 2 && !c.confirmsUnsub(v.Elems[1].Str) {
				c.h.unsubscribedByServer(v.Elems[1].Str)
			}
			return
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
		return // an answer no command waits for: every command registers a waiter, so none should come
	}
	w := c.waiters[0]
	if w.unsub != nil { // an SUNSUBSCRIBE and its PING
		// An error before any confirmation is the SUNSUBSCRIBE's; so is
		// a slot error after one (a PING, which names no key, never gets
		// one): a node that loses a slot pushes sunsubscribe for its
		// channels, which confirmsUnsub cannot tell from ours, before it
		// answers our SUNSUBSCRIBE with MOVED. Either way the PING's
		// answer still comes.
		if prefix := resp.ErrorPrefix(err); err != nil && (!w.answered || slotError(prefix)) {
			w.answered = true
			if prefix != "MOVED" {
				// MOVED: the node does not serve the slot, and a node
				// drops every shard subscription of a slot it loses:
				// nothing is subscribed here, which is what was asked.
				w.err = err
			}
			return
		}
		// The PING's answer, an error or not (NOPERM, BUSY): it ends the
		// waiter, whose outcome is the SUNSUBSCRIBE's.
		err = w.err
	}
	w.left--
	if err != nil || w.left <= 0 {
		c.waiters = c.waiters[1:]
		w.finish(err)
	}
}

// slotError reports whether an error reply's prefix is one a server gives
// only to commands that name keys (slots).
func slotError(prefix string) bool {
	switch prefix {
	case "MOVED", "ASK", "CROSSSLOT", "TRYAGAIN", "CLUSTERDOWN":
		return true
	}
	return false
}

// confirmsUnsub reports whether an sunsubscribe of channel answers the
// oldest waiting command, an SUNSUBSCRIBE that still expects it, and if so
// counts it. Runs on the reader.
func (c *psConn) confirmsUnsub(channel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		// Failed as this was read (its waiters are gone): whatever it
		// says, the connection's loss handles it.
		return true
	}
	if len(c.waiters) == 0 {
		return false
	}
	w := c.waiters[0]
	if w.unsub[channel] == 0 {
		return false
	}
	w.unsub[channel]--
	w.answered = true
	return true
}
