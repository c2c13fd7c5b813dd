package client

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/justredis/justredis/resp"
)

// newCall is the call that sends r (already encoded, with its db, expect,
// safe, retries and slot set) to pin, or where the router says if pin is
// nil. Its send, then its result (or, in Do, wait and settle), always
// consume r. (Callers run those themselves rather than through a helper:
// see wait.)
func newCall(m *Mux, r *request, pin *Node) call {
	return call{m: m, r: r, node: pin, pinned: pin != nil}
}

// call runs one request to completion.
//
// Connection failures are handled by the connections themselves (a failed
// connection's requests are replayed on the next one, in order, when the
// retry rules allow: never sent, or safe to send again; see request). Replies
// saying the command did not run — a redirection (MOVED, ASK) or "not now"
// (LOADING, TRYAGAIN, CLUSTERDOWN) — are handled by the reader that reads
// them when the connection is pipelined (Node.turnedAway), so that the
// command keeps its place before the ones issued after it. The caller's side
// re-sends the rest of what provably did not run, or cannot run twice: a
// request that never entered a connection; those same replies when they come
// from a direct round trip; and, under a sharded router, a request that
// failed unsent (or safe) with its node, re-routed after the router hears of
// the trouble. Every re-send but redirections counts against the request's
// retry budget; redirections are capped at maxRedirects; ctx bounds it all.
type call struct {
	m      *Mux
	r      *request // nil once recycled or abandoned
	node   *Node    // where the request goes; nil: ask the router
	pinned bool     // node is fixed: no routing, no redirects
	// queued: the caller does not wait (Database.Command), so the request
	// always goes through the queue; a direct round trip would make it
	// wait for the reply, and a lone goroutine's pipeline would turn into
	// one round trip per command.
	queued bool

	// noRedirect: MOVED and ASK replies are returned, not followed; the
	// caller redirects (a transaction, which re-sends its whole block and
	// decides which scripts to load on the new node).
	noRedirect bool

	c       *conn // where the last send went
	sendErr error // the last send's failure
	reroute bool  // ...which another node might not have

	collect func(*request) // if set, called with the completed request before it is recycled
}

// maxRedirects bounds MOVED/ASK redirections of one request.
const maxRedirects = 16

// Pauses before re-sending after a reply that says "not now".
const (
	loadingPause = 100 * time.Millisecond // LOADING
	tryAgainWait = 25 * time.Millisecond  // TRYAGAIN: a migration is moving the keys
	downPause    = 100 * time.Millisecond // CLUSTERDOWN
)

// notNowPause is the pause before re-sending after a "not now" reply with
// this prefix (LOADING, TRYAGAIN, CLUSTERDOWN).
func notNowPause(prefix string) time.Duration {
	switch prefix {
	case "TRYAGAIN":
		return tryAgainWait
	case "CLUSTERDOWN":
		return downPause
	}
	return loadingPause
}

// beforeNotNowPause, when set (tests only), runs before the pause after a
// "not now" reply.
var beforeNotNowPause atomic.Pointer[func()]

// askingCommand precedes a command re-sent after ASK.
var askingCommand = resp.AppendCommandStrings(nil, "ASKING")

// send queues the request on its node's connection, routing and dialling if
// needed.
func (cl *call) send(ctx context.Context) {
	cl.sendErr, cl.reroute = nil, false
	r := cl.r
	r.routed = !cl.pinned
	// One re-send onto a new connection is free when the one taken had
	// failed before it took the request: a lone caller finds out only now
	// that the server closed its idle connection (its timeout setting),
	// where a pipelined reader would have seen it at once and redialled.
	free := true
	for {
		if cl.m.closed.Load() {
			cl.sendErr = &RequestError{Exec: r.queuedExec(), Attempts: r.tries(), Err: ErrClosed}
			return
		}
		if cl.node == nil {
			n, err := cl.m.route(ctx, r.slot, r.readOnly)
			if err != nil {
				cl.sendErr = &RequestError{Exec: r.queuedExec(), Attempts: r.tries(), Err: err}
				return
			}
			cl.node = n
		}
		c, err := cl.node.conn(ctx)
		if err != nil {
			// The dial already retried ConnectRetry times; in a cluster
			// another node may take over the slot.
			cl.sendErr = &RequestError{Addr: cl.node.addr(), Exec: r.queuedExec(), Attempts: r.tries(), Err: err}
			cl.reroute = cl.shardedRoute() && ctxEnded(ctx) == nil
			return
		}
		cl.c = c
		if cl.queued {
			c.askPipelined()
		} else if c.tryDirect(ctx, r) {
			return
		}
		err = c.enqueue(ctx, r)
		if err == nil {
			c.maybeSwitch()
			return
		}
		// ctx ended while the queue was full, or the connection failed
		// before taking the request: it never entered it.
		if free && ctx.Err() == nil && c.isDead.Load() {
			free = false
			continue
		}
		if ctx.Err() != nil || r.retries <= 0 {
			cl.sendErr = &RequestError{Addr: c.addr, Exec: r.queuedExec(), Attempts: r.tries(), Err: err}
			return
		}
		r.retries--
	}
}

// shardedRoute reports whether the request is routed by a sharded router
// (and so may be re-routed).
func (cl *call) shardedRoute() bool { return !cl.pinned && cl.m.router.Sharded() }

// next is what to do after an attempt.
type next uint8

const (
	nextDone      next = iota // return the result
	nextMoved                 // MOVED: tell the router, re-send to the new owner
	nextAsk                   // ASK: re-send to the target with ASKING
	nextPause                 // LOADING, TRYAGAIN, CLUSTERDOWN: pause, re-send
	nextReroute               // the node failed and the request is safe to send elsewhere
	nextAbandoned             // ctx ended: the request belongs to the I/O goroutines
)

// result waits for the reply, re-sending while the rules allow, and
// recycles the request. (Do and DoStrings run the same first steps in
// their own frames: see plain.)
func (cl *call) result(ctx context.Context) (resp.Value, error) {
	if cl.sendErr == nil {
		if err := cl.wait(ctx); err != nil {
			return resp.Value{}, err
		}
		if r := cl.r; r.plain() {
			v := r.value
			cl.recycle()
			return v, nil
		}
	}
	return cl.settle(ctx)
}

// wait waits for the current send's request to complete, or for ctx to
// end: then the request is abandoned (it belongs to the I/O goroutines
// from then on) and the error says whether it may have reached the server.
//
// The caller waits here, for its request's completion or its ctx's end
// (through the waiter lists when ctx is shared by many callers: see
// ctxwait.go), one frame below Do, and not further down: the garbage
// collector walks every waiting caller's stack frame by frame at each
// cycle, and with thousands of callers waiting that walk was a sixth of
// the client's CPU. Its frame is small for the same reason as Do's (see
// Do): after the wait, every cache line of the stack touched is a miss.
func (cl *call) wait(ctx context.Context) error {
	r := cl.r
	attempts := r.tries()
	abandoned, exec := false, Execution(0)
	if done := ctx.Done(); done == nil {
		<-r.done
	} else if sh := cl.m.link(ctx, done, r); sh != nil {
		<-r.done
		abandoned, exec = sh.woken(r)
	} else {
		select {
		case <-r.done:
		case <-done:
			abandoned, exec = r.giveUp()
		}
	}
	if abandoned {
		return cl.abandoned(ctx, exec, attempts)
	}
	return nil
}

// abandoned is wait's error for a request given up after attempts tries.
//
//go:noinline
func (cl *call) abandoned(ctx context.Context, exec Execution, attempts int) error {
	cl.r = nil // it belongs to the I/O goroutines now
	return &RequestError{Addr: cl.c.addr, Exec: exec, Attempts: attempts, Err: ctx.Err()}
}

// settleInto is settle with the results stored through pointers, so that
// Do's frame needs no room for them (see Do).
//
//go:noinline
func (cl *call) settleInto(ctx context.Context, v *resp.Value, err *error) {
	*v, *err = cl.settle(ctx)
}

// settle finishes a call whose send failed or whose request completed
// with something other than a plain reply (plain): it classifies the
// outcome, re-sends while the rules allow, and recycles the request.
//
//go:noinline
func (cl *call) settle(ctx context.Context) (resp.Value, error) {
	for {
		v, err, what := cl.outcome(ctx)
		if what != nextDone && cl.again(ctx, v, err, what) {
			cl.r.resetResult()
			cl.send(ctx)
			if cl.sendErr == nil {
				if werr := cl.wait(ctx); werr != nil {
					return resp.Value{}, werr
				}
			}
			continue
		}
		cl.recycle()
		return v, err
	}
}

// recycle hands the finished request to collect, if set, then to the pool.
func (cl *call) recycle() {
	if cl.collect != nil {
		cl.collect(cl.r)
	}
	putRequest(cl.r)
	cl.r = nil
}

// again decides whether (and where) to re-send after an attempt.
func (cl *call) again(ctx context.Context, v resp.Value, err error, what next) bool {
	r := cl.r
	switch what {
	case nextMoved, nextAsk:
		if cl.pinned || cl.noRedirect || r.redirects >= maxRedirects || ctx.Err() != nil {
			return false
		}
		e := v.Err().(*resp.Error)
		addr := redirectAddr(e.Addr, cl.node)
		if what == nextMoved {
			cl.m.router.Moved(e.Slot, addr)
		}
		n := cl.m.Node(addr)
		if n == nil {
			return false
		}
		r.redirects++
		cl.node = n
		r.setAsking(what == nextAsk)
		return true
	case nextPause:
		if r.retries <= 0 {
			return false
		}
		prefix := resp.ErrorPrefix(err)
		next, told := cl.m.readElsewhere(ctx, cl.node, r, prefix, err)
		if next != nil {
			cl.node = next
			r.retries--
			r.setAsking(false)
			return true
		}
		if prefix != "LOADING" && !told {
			cl.m.router.Trouble(cl.node, err)
		}
		if prefix == "CLUSTERDOWN" && !cl.pinned {
			cl.node = nil // the slot may have a new owner by then
		}
		if hook := beforeNotNowPause.Load(); hook != nil {
			(*hook)()
		}
		if sleepCtx(ctx, notNowPause(prefix)) != nil {
			return false
		}
		r.retries--
		r.setAsking(false)
		return true
	case nextReroute:
		cl.m.router.Trouble(cl.node, err)
		if r.retries <= 0 || sleepCtx(ctx, backoff(min(r.tries(), 5))) != nil {
			return false
		}
		r.retries--
		cl.node = nil
		r.setAsking(false)
		return true
	}
	return false
}

// outcome classifies the current send's result: its failure to send, or
// the completed request's.
func (cl *call) outcome(ctx context.Context) (v resp.Value, err error, what next) {
	r := cl.r
	if cl.sendErr != nil {
		if cl.reroute {
			return v, cl.sendErr, nextReroute
		}
		return v, cl.sendErr, nextDone
	}
	if r.err != nil {
		err = &RequestError{Addr: cl.c.addr, Exec: r.exec, Attempts: r.tries(), Err: r.err}
		// ctxEnded, not ctx.Err: a direct round trip fails the request
		// with DeadlineExceeded as soon as the deadline passes, maybe
		// before ctx's timer says so; that is not the node's trouble.
		// A malformed reply (badReply) is the server's answer, not the
		// node's trouble: asking again would most likely get it again.
		if (r.exec == NotSent || r.safe) && cl.shardedRoute() && ctxEnded(ctx) == nil && !badReply(r.err) {
			return v, err, nextReroute
		}
		return v, err, nextDone
	}
	v = r.value
	e, ok := v.Err().(*resp.Error)
	if !ok {
		return v, nil, nextDone
	}
	if ctx.Err() != nil {
		return v, e, nextDone
	}
	switch e.Prefix {
	case "MOVED":
		if e.IsRedirect() {
			return v, e, nextMoved
		}
	case "ASK":
		if e.IsRedirect() {
			return v, e, nextAsk
		}
	case "LOADING", "TRYAGAIN", "CLUSTERDOWN":
		return v, e, nextPause
	}
	return v, e, nextDone
}

// giveUp abandons r, whose caller's ctx ended, and reports whether r may
// have reached the server; if r completed meanwhile, it waits for the
// completion's signal (about to come) and reports false.
func (r *request) giveUp() (abandoned bool, exec Execution) {
	if abandoned, exec := r.abandon(); abandoned {
		return true, exec
	}
	<-r.done
	return false, 0
}

// abandon gives r up (its caller's ctx ended), unless it completed: then
// its done signal is sent or about to be.
func (r *request) abandon() (abandoned bool, exec Execution) {
	switch {
	case r.state.CompareAndSwap(stQueued, stAbandonedQueued):
		return true, NotSent
	case r.state.CompareAndSwap(stRequeued, stAbandonedQueued):
		return true, MaybeSent
	case r.state.CompareAndSwap(stWritten, stAbandonedWritten):
		return true, MaybeSent
	}
	return false, 0
}
