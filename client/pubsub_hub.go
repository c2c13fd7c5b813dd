package client

import (
	"context"
	"errors"
	"sync"
	"time"
)

// subKind is what a subscription names.
type subKind uint8

const (
	kindChannel subKind = iota // SUBSCRIBE
	kindPattern                // PSUBSCRIBE
	kindShard                  // SSUBSCRIBE
	kindCount
)

func (k subKind) commands() (sub, unsub string) {
	switch k {
	case kindPattern:
		return "PSUBSCRIBE", "PUNSUBSCRIBE"
	case kindShard:
		return "SSUBSCRIBE", "SUNSUBSCRIBE"
	}
	return "SUBSCRIBE", "UNSUBSCRIBE"
}

// subEntry is one channel or pattern the hub subscribes on the server, for
// at least one subscriber.
type subEntry struct {
	subs  map[*PubSub]bool
	ready chan struct{} // closed once the server confirmed it, or failed to
	err   error         // why it failed; set before ready is closed
}

// pubsubHub is a pub/sub connection and the subscriptions of all its
// subscribers: it subscribes a name on the server while at least one
// subscriber wants it, and hands each message to the subscribers of its
// channel or pattern without ever waiting for them. Each node has one (on a
// cluster it holds only shard channels of the slots the node owns); a
// cluster client also has a global one, attached to no node, for channels
// and patterns.
//
// Changes are serialised by wmu together with the commands they need, so
// that the server sees SUBSCRIBE and UNSUBSCRIBE in the order the hub's
// bookkeeping made them; confirmations are waited for outside the lock.
type pubsubHub struct {
	m *Mux
	n *Node // its node; nil for a cluster client's global hub

	wmu sync.Mutex // held while changing subscriptions and writing their commands

	mu       sync.Mutex
	subs     map[*PubSub]bool                // guarded by mu: open subscribers
	names    [kindCount]map[string]*subEntry // guarded by mu: by kind, name -> entry
	conn     *psConn                         // guarded by mu: the current connection, nil if none
	dialing  chan struct{}                   // guarded by mu: closed when the dial in progress ends
	dialErr  error                           // guarded by mu: the last dial's error
	retrying bool                            // guarded by mu: the reconnect loop is running
	missed   bool                            // guarded by mu: a connection with subscriptions was lost; tell on the next one
}

func newPubSubHub(m *Mux, n *Node) *pubsubHub {
	return &pubsubHub{
		m:     m,
		n:     n,
		subs:  map[*PubSub]bool{},
		names: [kindCount]map[string]*subEntry{{}, {}, {}},
	}
}

// change updates ps's subscriptions and, for names that gain their first or
// lose their last subscriber, the server's; it returns once every name ps
// added is confirmed by the server.
func (h *pubsubHub) change(ctx context.Context, ps *PubSub, kind subKind, add bool, names []string) error {
	if add && !ps.usesHub(h) {
		return ErrClosed
	}
	h.wmu.Lock()
	h.mu.Lock()
	m := h.names[kind]
	var server []string
	var fresh, joined []*subEntry
	for _, name := range names {
		e := m[name]
		if add {
			if e == nil {
				e = &subEntry{subs: map[*PubSub]bool{}, ready: make(chan struct{})}
				m[name] = e
				server = append(server, name)
				fresh = append(fresh, e)
			} else {
				joined = append(joined, e)
			}
			e.subs[ps] = true
		} else if e != nil {
			delete(e.subs, ps)
			if len(e.subs) == 0 {
				delete(m, name)
				server = append(server, name)
			}
		}
	}
	if add {
		h.subs[ps] = true
	}
	h.mu.Unlock()
	var w *psWaiter
	if len(server) > 0 {
		sub, unsub := kind.commands()
		cmd := unsub
		if add {
			cmd = sub
		}
		c, err := h.connection(ctx)
		if err == nil {
			w = newWaiter(len(server), func(err error) {
				if err != nil {
					h.dropEntries(kind, server, fresh, err)
				}
				for _, e := range fresh {
					close(e.ready)
				}
			})
			if err = c.send(append([]string{cmd}, server...), w); err != nil {
				w = nil // not registered: its onDone will not run
			}
		}
		if err != nil {
			if add {
				h.dropEntries(kind, server, fresh, err)
				for _, e := range fresh {
					close(e.ready)
				}
			}
			h.wmu.Unlock()
			if add {
				ps.forget(kind, names)
			}
			return err
		}
	}
	h.wmu.Unlock()
	if !add {
		if w != nil {
			return w.wait(ctx)
		}
		return nil
	}
	// Wait for our own names and for the ones another subscriber's
	// SUBSCRIBE may still be confirming.
	for _, e := range append(fresh, joined...) {
		select {
		case <-e.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		if e.err != nil {
			ps.forget(kind, names)
			return e.err
		}
	}
	return nil
}

// dropEntries removes failed entries (and their subscribers' records of
// them) so that the hub's view and the server's agree again.
func (h *pubsubHub) dropEntries(kind subKind, names []string, entries []*subEntry, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.names[kind]
	for i, e := range entries {
		e.err = err
		if i < len(names) && m[names[i]] == e {
			delete(m, names[i])
		}
	}
}

// ping sends PING on the pub/sub connection.
func (h *pubsubHub) ping(ctx context.Context, msg string) error {
	h.wmu.Lock()
	c, err := h.connection(ctx)
	var w *psWaiter
	if err == nil {
		args := []string{"PING"}
		if msg != "" {
			args = append(args, msg)
		}
		w = newWaiter(1, nil)
		err = c.send(args, w)
	}
	h.wmu.Unlock()
	if err != nil {
		return err
	}
	return w.wait(ctx)
}

// remove drops a closed subscriber and its subscriptions; the last one to go
// closes the connection.
func (h *pubsubHub) remove(ps *PubSub) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.mu.Lock()
	delete(h.subs, ps)
	var gone [kindCount][]string
	for kind, m := range h.names {
		for name, e := range m {
			if e.subs[ps] {
				delete(e.subs, ps)
				if len(e.subs) == 0 {
					delete(m, name)
					gone[kind] = append(gone[kind], name)
				}
			}
		}
	}
	c := h.conn
	last := len(h.subs) == 0
	if last {
		h.conn = nil
	}
	h.mu.Unlock()
	if c == nil {
		return
	}
	if last {
		c.fail(ErrClosed)
		return
	}
	for kind, names := range gone {
		if len(names) > 0 {
			_, unsub := subKind(kind).commands()
			_ = c.send(append([]string{unsub}, names...), newWaiter(len(names), nil))
		}
	}
}

// close shuts the hub down (Mux.Close).
func (h *pubsubHub) close() {
	h.mu.Lock()
	c := h.conn
	h.conn = nil
	h.mu.Unlock()
	if c != nil {
		c.fail(ErrClosed)
	}
}

// connection returns the live connection, dialling (once, for everyone who
// needs it) when there is none.
func (h *pubsubHub) connection(ctx context.Context) (*psConn, error) {
	for {
		h.mu.Lock()
		if h.conn != nil && !h.conn.isDead() {
			c := h.conn
			h.mu.Unlock()
			return c, nil
		}
		wait := h.startDialLocked()
		h.mu.Unlock()
		if wait == nil {
			return nil, ErrClosed
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		h.mu.Lock()
		err := h.dialErr
		h.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// startDialLocked starts a dial unless one is running, and returns the
// channel closed when it ends; nil once the Mux is closed.
func (h *pubsubHub) startDialLocked() chan struct{} {
	if h.dialing != nil {
		return h.dialing
	}
	wait := make(chan struct{})
	if !h.m.spawn(func() { h.dial(wait) }) {
		return nil
	}
	h.dialing = wait
	return wait
}

// dial connects and renews every subscription the hub holds. If a
// connection with subscriptions was lost before, every subscriber is told.
func (h *pubsubHub) dial(done chan struct{}) {
	c, err := h.connect()
	h.mu.Lock()
	if err == nil {
		switch {
		case h.m.closed.Load():
			c.fail(ErrClosed)
			err = ErrClosed
		case h.conn != nil && !h.conn.isDead():
			c.fail(ErrClosed) // someone else's connection is live: keep that one
		default:
			h.conn = c
		}
	}
	if err != nil && h.m.closed.Load() {
		err = ErrClosed
	}
	h.dialErr = err
	h.dialing = nil
	var tell []*PubSub
	if err == nil && h.missed {
		h.missed = false
		for ps := range h.subs {
			tell = append(tell, ps)
		}
	}
	h.mu.Unlock()
	close(done)
	for _, ps := range tell {
		ps.notifyReconnected()
	}
}

// connect dials a connection and subscribes to everything the hub holds.
func (h *pubsubHub) connect() (*psConn, error) {
	ctx, cancel := context.WithTimeout(h.m.ctx, time.Duration(h.m.s.connectRetry+1)*h.m.s.connectTimeout)
	defer cancel()
	n := h.n
	if n == nil { // the global hub: any node the router offers
		var err error
		if n, err = h.m.route(ctx, NoSlot, false); err != nil {
			return nil, err
		}
	}
	rc, err := n.d.dial(ctx)
	if err != nil {
		h.m.router.Trouble(n, err)
		return nil, err
	}
	c := &psConn{h: h, rc: rc, dead: make(chan struct{})}
	h.m.bg.Add(1) // inside a spawned dial: the count is not zero
	go c.readLoop()
	h.mu.Lock()
	var renew [kindCount][]string
	for kind, m := range h.names {
		for name := range m {
			renew[kind] = append(renew[kind], name)
		}
	}
	h.mu.Unlock()
	for kind, names := range renew {
		if len(names) == 0 {
			continue
		}
		sub, _ := subKind(kind).commands()
		w := newWaiter(len(names), nil)
		if err := c.send(append([]string{sub}, names...), w); err != nil {
			return nil, err
		}
		if err := w.wait(ctx); err != nil {
			c.fail(err)
			return nil, err
		}
	}
	return c, nil
}

// lost is told, by c's reader and before c is failed, that c is gone. While
// subscribers remain it reconnects, with backoff, until that works or the
// Mux closes; the subscribers are told once it does.
func (h *pubsubHub) lost(c *psConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != c {
		return
	}
	h.conn = nil
	if len(h.subs) == 0 || h.m.closed.Load() {
		return
	}
	if h.n != nil && h.m.router.Sharded() {
		// A node hub of a cluster client holds shard channels only: their
		// slots may have a new owner now. Re-home them, wherever that is.
		h.rehomeLocked(nil, false)
		return
	}
	h.missed = true
	if h.retrying {
		return
	}
	h.retrying = h.m.spawn(h.reconnectLoop)
}

func (h *pubsubHub) reconnectLoop() {
	for attempt := 1; ; attempt++ {
		h.mu.Lock()
		if h.m.closed.Load() || len(h.subs) == 0 || (h.conn != nil && !h.conn.isDead()) {
			h.retrying = false
			h.mu.Unlock()
			return
		}
		wait := h.startDialLocked()
		h.mu.Unlock()
		if wait == nil {
			break
		}
		<-wait
		h.mu.Lock()
		ok := h.conn != nil && !h.conn.isDead()
		h.mu.Unlock()
		if ok || sleepCtx(h.m.ctx, backoff(min(attempt, 6))) != nil {
			break
		}
	}
	h.mu.Lock()
	h.retrying = false
	h.mu.Unlock()
}

// dispatch hands a message to the subscribers of name, never waiting.
func (h *pubsubHub) dispatch(kind subKind, name string, msg Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.names[kind][name]; e != nil {
		for ps := range e.subs {
			ps.deliver(msg)
		}
	}
}

// rehomeLocked takes shard channels away from this hub (all of them when
// names is nil) and subscribes them again on whichever node owns their
// slot now, in the background, retrying with backoff until it works or the
// Mux closes; their subscribers are then told they may have missed
// messages. movedAway says the server itself unsubscribed them (their slot
// left this node), so this node is the wrong answer. The caller holds h.mu.
func (h *pubsubHub) rehomeLocked(names []string, movedAway bool) {
	m := h.names[kindShard]
	if names == nil {
		for name := range m {
			names = append(names, name)
		}
	}
	moving := map[string][]*PubSub{}
	for _, name := range names {
		e := m[name]
		if e == nil {
			continue
		}
		delete(m, name)
		for ps := range e.subs {
			moving[name] = append(moving[name], ps)
		}
	}
	if len(moving) == 0 {
		return
	}
	var from *Node
	if movedAway {
		from = h.n
	}
	h.m.spawn(func() { h.m.rehome(moving, from) })
}

// rehome subscribes shard channels (with their subscribers) on the nodes
// that own them now. The router may not know yet that they moved: while it
// still names from (the node that unsubscribed them, if any), it is asked to
// refresh and the next try waits.
func (m *Mux) rehome(moving map[string][]*PubSub, from *Node) {
	for attempt := 1; len(moving) > 0; attempt++ {
		if attempt > 1 && sleepCtx(m.ctx, backoff(min(attempt-1, 6))) != nil {
			return
		}
		for name, subs := range moving {
			ctx, cancel := context.WithTimeout(m.ctx, m.s.connectTimeout)
			n, err := m.shardNode(ctx, name)
			if err == nil && n == from && attempt <= 10 {
				err = errStaleRoute // give the refresh a chance before settling for the same node
			}
			var left []*PubSub
			for _, ps := range subs {
				if !ps.isOpen() {
					continue
				}
				if err == nil {
					err = n.hub.change(ctx, ps, kindShard, true, []string{name})
				}
				if err != nil {
					left = append(left, ps)
					continue
				}
				ps.notifyReconnected()
			}
			cancel()
			if err != nil && n != nil {
				m.router.Trouble(n, err)
			}
			if len(left) == 0 {
				delete(moving, name)
			} else {
				moving[name] = left
			}
		}
	}
}

// errStaleRoute: the router still sends a moved shard channel to the node
// it left.
var errStaleRoute = errors.New("client: the router still names the node a shard channel left")

// unsubscribedByServer handles an SUNSUBSCRIBE the server sent on its own:
// the channel's slot has moved. It reports whether that is what it was
// (rather than the confirmation of our own SUNSUBSCRIBE).
func (h *pubsubHub) unsubscribedByServer(channel string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names[kindShard][channel] == nil {
		return false // we asked for it: the entry went first
	}
	h.rehomeLocked([]string{channel}, true)
	return true
}
