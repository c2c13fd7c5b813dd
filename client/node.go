package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/justredis/justredis/resp"
)

// authHoldDown: after the server refused our credentials, commands fail at
// once with the same error for this long instead of redialling each time.
const authHoldDown = time.Second

// Node is one server (standalone: the endpoints of Config, tried in order)
// and its shared connection.
type Node struct {
	m    *Mux
	d    dialer
	cc   atomic.Pointer[conn] // the shared connection; nil before the first dial
	pool *dedicatedPool       // dedicated connections
	hub  *pubsubHub           // the pub/sub connection and its subscribers
	// scripts: which scripts the server behind the shared connection knows
	scripts *scriptCache
	// readOnly: connections send READONLY (cluster replica reads)
	readOnly atomic.Bool

	mu       sync.Mutex
	replay   []*request    // guarded by mu: requests of a failed connection waiting for the next
	dialing  chan struct{} // guarded by mu: non-nil while a dial runs; closed when it ends
	dialErr  error         // guarded by mu: the last dial's error
	authErr  error         // guarded by mu: the last authentication failure...
	authTime time.Time     // guarded by mu: ...and when it happened
}

func newNode(m *Mux, eps []endpoint) *Node {
	n := &Node{m: m, d: dialer{s: m.s, eps: eps}}
	n.pool = newDedicatedPool(n)
	n.hub = newPubSubHub(m, n)
	n.scripts = newScriptCache()
	return n
}

// conn returns the shared connection, dialling it (once, for every caller
// that needs it) when there is none or it has failed.
func (n *Node) conn(ctx context.Context) (*conn, error) {
	if c := n.cc.Load(); c != nil && !c.isDead.Load() {
		return c, nil
	}
	return n.connSlow(ctx)
}

func (n *Node) connSlow(ctx context.Context) (*conn, error) {
	if c := n.cc.Load(); c != nil && c.isDead.Load() {
		// Let the failed connection hand its unsent requests over for
		// replay first: a caller's later commands must not overtake them.
		select {
		case <-c.readerDone:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for {
		n.mu.Lock()
		if c := n.cc.Load(); c != nil && !c.isDead.Load() {
			n.mu.Unlock()
			return c, nil
		}
		if n.m.closed.Load() {
			n.mu.Unlock()
			return nil, ErrClosed
		}
		if n.authErr != nil && time.Since(n.authTime) < authHoldDown {
			err := n.authErr
			n.mu.Unlock()
			return nil, err
		}
		wait := n.dialing
		if wait == nil {
			wait = make(chan struct{})
			if !n.m.spawn(func() { n.dial(wait) }) {
				n.mu.Unlock()
				return nil, ErrClosed
			}
			n.dialing = wait
		}
		n.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		n.mu.Lock()
		err := n.dialErr
		c := n.cc.Load()
		n.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if c != nil && !c.isDead.Load() {
			return c, nil
		}
		// It died already; dial again.
	}
}

// dial runs in the background so that one caller's ctx does not cut short
// a dial that others wait for; Mux.Close cancels it. The requests waiting
// for replay go onto the new connection before anyone else's.
func (n *Node) dial(done chan struct{}) {
	ctx := n.m.ctx
	rc, err := n.d.dial(ctx)
	var c *conn
	if err == nil {
		stop := interruptIO(ctx, rc.nc) // Close does not wait out their deadlines
		if err = n.m.afterConnect(ctx, rc); err == nil && n.readOnly.Load() {
			err = readOnlyHandshake(ctx, rc, n.m.s)
		}
		if !stop() {
			err = errors.Join(err, ctx.Err())
		}
		if err == nil {
			c = newConn(rc.nc, rc.rd, rc.addr, n.m.s, rc.proto, n.m.onPush)
			c.stats = &n.m.stats
			c.onFailed = n.connFailed
			c.turnAway = n.turnedAway
			c.spawn = n.m.spawn
			c.start()
		} else {
			_ = rc.nc.Close()
		}
	}
	// The replays go onto c before c is visible, in the order they came,
	// so that no caller's command is written ahead of them. push may hand
	// them back through connFailed (c failed already), which takes n.mu:
	// not held while pushing. The loop ends holding n.mu with none left,
	// or with c failed (what it handed back is pushed once more below,
	// which hands it on to a new dial, as when c fails later).
	for {
		n.mu.Lock()
		replay := n.replay
		if c == nil || len(replay) == 0 || c.err() != nil {
			break
		}
		n.replay = nil
		n.mu.Unlock()
		c.push(replay, false)
	}
	if c != nil && n.m.closed.Load() {
		// Close ran while we dialled: leave nothing behind. (Close reads
		// cc under n.mu after setting closed, so it sees what we store.)
		n.mu.Unlock()
		c.close()
		c, err = nil, ErrClosed
		n.mu.Lock()
	}
	if err != nil && n.m.closed.Load() {
		err = ErrClosed
	}
	if c != nil {
		n.scripts.newGeneration()
		n.cc.Store(c)
	}
	leftover := n.replay
	n.replay = nil
	n.dialErr = err
	if errors.Is(err, ErrAuth) {
		n.authErr, n.authTime = err, time.Now()
	} else if err == nil {
		n.authErr = nil
	}
	n.dialing = nil
	n.mu.Unlock()
	close(done)
	if c != nil {
		c.push(leftover, false) // none, unless c failed already: then it hands them on
	} else {
		failAll(leftover, err)
	}
}

// connFailed receives the requests of a failed connection that may be
// replayed, and sends them on the current connection, or on a new one.
func (n *Node) connFailed(c *conn, replay []*request, err error) {
	n.requeue(c, replay, true)
}

// requeue queues requests admitted before (a failed connection's replays,
// or one redirected here) on the shared connection — ahead of what it has
// queued when front, else behind — or, when there is none alive (other
// than from, the connection they come from), with those waiting for the
// next dial, which it starts.
func (n *Node) requeue(from *conn, rs []*request, front bool) {
	if len(rs) == 0 {
		return
	}
	n.mu.Lock()
	if n.m.closed.Load() {
		n.mu.Unlock()
		failAll(rs, ErrClosed)
		return
	}
	if cur := n.cc.Load(); cur != nil && cur != from && !cur.isDead.Load() && n.dialing == nil {
		n.mu.Unlock()
		cur.push(rs, front)
		return
	}
	n.replay = append(n.replay, rs...)
	if n.dialing == nil {
		wait := make(chan struct{})
		if n.m.spawn(func() { n.dial(wait) }) {
			n.dialing = wait
		}
	}
	n.mu.Unlock()
}

// turnedAway is the reader's hook for replies saying a command did not run
// (conn.turnAway). It sends the command again at once, from the reader, so
// that it keeps its place among the commands issued after it — a caller's
// pipelined Futures must run in the order they were issued, and re-sending
// when a Future is read would let later commands overtake it:
//
//   - MOVED, ASK: onto the target node's queue, behind what is queued there,
//     before the router learns of the move (a later command routed by the
//     new map then queues behind it; one routed by the old map gets MOVED
//     here too, and follows it).
//   - LOADING, TRYAGAIN, CLUSTERDOWN: back onto this connection, ahead of
//     everything queued; the connection then writes nothing for the pause.
//
// Redirections count against maxRedirects, pauses against the request's
// retry budget; when either is spent, or the request is pinned to its node,
// the reply goes to the caller. A caller that gave up meanwhile just leaves
// the request to be dropped (it is queued, so its error says it did not run).
func (n *Node) turnedAway(c *conn, r *request, e *resp.Error) bool {
	switch e.Prefix {
	case "MOVED", "ASK":
		if !r.routed || !e.IsRedirect() || r.redirects >= maxRedirects {
			return false
		}
		addr := redirectAddr(e.Addr, n)
		to := n.m.Node(addr)
		if to == nil {
			return false // closing
		}
		if !r.requeue() {
			return true
		}
		r.redirects++
		r.setAsking(e.Prefix == "ASK")
		to.adopt(r)
		if e.Prefix == "MOVED" {
			n.m.router.Moved(e.Slot, addr)
		}
		return true
	case "LOADING", "TRYAGAIN", "CLUSTERDOWN":
		if r.retries <= 0 || n.replicaRead(r, e.Prefix) {
			return false // replicaRead: the caller's side re-routes it (call.again)
		}
		if e.Prefix != "LOADING" {
			n.m.router.Trouble(n, e)
		}
		seq := r.seq
		if !r.requeue() {
			return true
		}
		r.seq = seq // it keeps its place on this connection (drain)
		r.retries--
		r.setAsking(false)
		c.retryAfter(r, notNowPause(e.Prefix))
		return true
	}
	return false
}

// replicaRead reports whether r is a routed read that n serves as a replica
// and that n turned away with prefix (LOADING: reloading its dataset;
// CLUSTERDOWN: cut off from the cluster's majority), while its master or
// another replica may serve it: it goes elsewhere at once, and n is
// reported in trouble (call.again), rather than waiting on n. Order does
// not hold across replicas anyway (replication lags), so the read need not
// keep its place on n's connection.
func (n *Node) replicaRead(r *request, prefix string) bool {
	return r.routed && r.readOnly && n.readOnly.Load() && (prefix == "LOADING" || prefix == "CLUSTERDOWN")
}

// readElsewhere is where a routed read that n, serving it as a replica,
// turned away with prefix (replicaRead) goes instead, now and without a
// pause: n is reported in trouble (told), and the router asked again. It
// is nil for any other request, and when the router sends the read to n
// again (promoted to master since: its flag stays), which then gets a
// master's pause. Used by the caller's side of both the shared connection
// (call.again) and the dedicated ones (doBlocking).
func (m *Mux) readElsewhere(ctx context.Context, n *Node, r *request, prefix string, err error) (next *Node, told bool) {
	if !n.replicaRead(r, prefix) {
		return nil, false
	}
	m.router.Trouble(n, err)
	if next, rerr := m.route(ctx, r.slot, r.readOnly); rerr == nil && next != n {
		return next, true
	}
	return nil, true
}

// adopt queues a request redirected here by another node's reader: behind
// whatever the shared connection has queued, or, while it is being dialled,
// with the requests waiting for it.
func (n *Node) adopt(r *request) {
	n.requeue(nil, []*request{r}, false)
}

// SetReadOnly makes the node's connections, from the next one on, send
// READONLY: a cluster replica then serves reads instead of redirecting them
// to its master. Routers call it for the replicas they send reads to.
func (n *Node) SetReadOnly() {
	if n.readOnly.Swap(true) {
		return
	}
	// The current shared connection (if any) predates the flag: say
	// READONLY on it too, in the stream like an injected SELECT.
	if c := n.cc.Load(); c != nil && !c.isDead.Load() {
		r := getRequest()
		r.buf = resp.AppendCommandStrings(r.buf[:0], "READONLY")
		r.db, r.expect = noDB, 1
		r.internal = dropReply // a refusal only means reads get MOVED
		if err := c.enqueue(context.Background(), r); err != nil {
			putRequest(r)
			return
		}
		c.queuedFromElsewhere() // in direct mode, nothing else would write it
	}
}

// readOnlyHandshake sends READONLY on a new connection.
func readOnlyHandshake(ctx context.Context, rc *rawConn, s *settings) error {
	if err := armDeadline(ctx, rc.nc, time.Now().Add(s.connectTimeout)); err != nil {
		return err
	}
	defer rc.nc.SetDeadline(time.Time{})
	v, err := roundTrip(rc, []string{"READONLY"})
	if err != nil {
		return err
	}
	if e := v.Err(); e != nil {
		return connErr("READONLY", e)
	}
	return nil
}

// failAll fails requests that cannot be replayed after all.
func failAll(rs []*request, err error) {
	for _, r := range rs {
		r.fail(err, NotSent)
	}
}

// close closes the shared connection. The Mux is already marked closed, so
// no new one can appear and nothing is replayed.
func (n *Node) close() {
	n.pool.close()
	n.hub.close()
	n.mu.Lock()
	c := n.cc.Load()
	n.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// failReplays fails whatever still waits for replay (after Close).
func (n *Node) failReplays(err error) {
	n.mu.Lock()
	rs := n.replay
	n.replay = nil
	n.mu.Unlock()
	failAll(rs, err)
}

// addr is the address of the current connection, or of the first endpoint.
func (n *Node) addr() string {
	if c := n.cc.Load(); c != nil {
		return c.addr
	}
	return n.d.eps[0].String()
}

// onPush counts push frames that arrive on a shared connection with nobody
// to take them.
func (m *Mux) onPush(v resp.Value) {
	m.stats.strayPushes.Add(1)
}
