package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/justredis/justredis/resp"
)

// The hub's connection: dialling it (once, for everyone who needs it),
// renewing the subscriptions on it, and noticing its loss and reconnecting.

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
			return nil, &waitError{err: ctx.Err()}
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
	ctx, cancel := context.WithTimeout(h.m.ctx, h.m.s.dialBudget())
	defer cancel()
	c, renewed, err := h.connect(ctx)
	h.mu.Lock()
	if err == nil {
		h.dropRefusedLocked(&renewed)
	}
	// Entries given up while c was being set up (a subscriber closed, a
	// failed add released them: neither waits for a dial, and there was no
	// connection to unsubscribe them on) must not stay subscribed on it; a
	// name given up and taken again is a new entry, which its change
	// subscribes once c is installed. Checked until none is left, and c
	// installed under the same lock: from then on, whoever gives a name up
	// unsubscribes it on c.
	for err == nil {
		stale, some := h.staleLocked(renewed)
		if !some {
			break
		}
		h.mu.Unlock()
		if err = h.unsubscribeAll(ctx, c, stale); err != nil {
			err = dialCtxErr(ctx, err, "unsubscribing given-up names")
			c.fail(err)
			err = h.told(c, err)
		}
		h.mu.Lock()
	}
	discard := err == nil
	if err == nil {
		switch {
		case h.m.closed.Load():
			err = ErrClosed
		case h.conn != nil && !h.conn.isDead():
			// Someone else's connection is live: keep that one.
		case len(h.subs) == 0:
			// Every subscriber has left meanwhile (a Ping waiting for it
			// is one): kept, it would stay open for no one.
			h.missed = false
		default:
			discard = false
			if h.conn != nil && len(h.subs) > 0 && h.holdsNamesLocked() {
				// It replaces one that failed before its reader told us
				// (a failed write): that one's loss counts.
				h.missed = true
			}
			h.conn = c
			if c.lostEarly {
				// Lost before it was installed: as if after (the reconnect
				// loop takes over, with its backoff), and those waiting
				// for it are told, rather than dialling again at once.
				h.lostLocked(c, c.lostCause)
				err = connErr("read", errors.New("the pub/sub connection was lost as it was set up"))
			}
		}
	}
	if err != nil && h.m.closed.Load() {
		err = ErrClosed
	}
	h.dialErr = err
	h.dialing = nil
	var tell []*PubSub
	if err == nil && h.conn == c && h.missed {
		// Told: the subscribers of what was renewed (one that
		// unsubscribed everything meanwhile, or only subscribes now,
		// missed nothing), and those whose names a renewal dropped.
		h.missed = false
		tell = h.takeDroppedLocked()
		told := map[*PubSub]bool{}
		for _, ps := range tell {
			told[ps] = true
		}
		for _, m := range renewed.entries {
			for _, e := range m {
				for ps := range e.subs {
					if !told[ps] && !renewed.rehoming[ps] && h.subs[ps] {
						told[ps] = true
						tell = append(tell, ps)
					}
				}
			}
		}
	}
	for _, ps := range tell {
		ps.notifyReconnected() // under h.mu: all told before anyone sees the connection's next step
	}
	h.mu.Unlock()
	if discard {
		c.fail(ErrClosed)
	}
	close(done)
}

// renewal is what a dial subscribed on its new connection: by kind, each
// name's entry at the time.
type renewal struct {
	entries [kindCount]map[string]*subEntry
	// refused: the names the server refused to subscribe again, with the
	// error's prefix (NOPERM: a permission revoked; for shard channels, a
	// slot error: the slot moved); see dial.
	refused [kindCount][]refusedName
	// rehoming: the subscribers of names refused with a slot error and
	// re-homed (see dropRefusedLocked); the re-homing tells them, once
	// those names are live on their new owner, so the dial does not.
	rehoming map[*PubSub]bool
}

// refusedName is a name a renewal was refused, and why (an error prefix).
type refusedName struct{ name, why string }

// renew subscribes group on c. A group the server refuses (see refusal) is
// tried again name by name, all sent at once, and the names refused alone
// are added to refused. Any other error (BUSY, LOADING, the connection
// lost) is returned: the dial fails, and is tried again later with every
// name.
func (h *pubsubHub) renew(ctx context.Context, c *psConn, kind subKind, group []string, refused *[]refusedName) error {
	sub, _ := kind.commands()
	w := newWaiter(len(group), nil)
	if err := c.send(w, append([]string{sub}, group...)); err != nil {
		return err
	}
	err := w.wait(ctx)
	if err == nil {
		return nil
	}
	why := refusal(kind, err)
	if why == "" {
		return err
	}
	if len(group) == 1 {
		*refused = append(*refused, refusedName{group[0], why})
		return nil
	}
	ws := make([]*psWaiter, len(group))
	for i, name := range group {
		ws[i] = newWaiter(1, nil)
		if err := c.send(ws[i], []string{sub, name}); err != nil {
			return err
		}
	}
	for i, name := range group {
		err := ws[i].wait(ctx)
		if err == nil {
			continue
		}
		why := refusal(kind, err)
		if why == "" {
			return err
		}
		*refused = append(*refused, refusedName{name, why})
	}
	return nil
}

// refusal returns the prefix of an error answer to a (re)subscription that
// refuses its names rather than the moment: NOPERM (a permission), or for
// shard channels a slot error (the slot is elsewhere). "" for anything
// else.
func refusal(kind subKind, err error) string {
	switch p := resp.ErrorPrefix(err); {
	case p == "NOPERM", kind == kindShard && slotError(p):
		return p
	}
	return ""
}

// staleLocked removes from renewed, and returns, the names whose entry is
// no longer the hub's (gone, or replaced by a new one); some says whether
// there are any. The caller holds h.mu.
func (h *pubsubHub) staleLocked(renewed renewal) (stale [kindCount][]string, some bool) {
	for kind, entries := range renewed.entries {
		for name, e := range entries {
			if h.names[kind][name] != e {
				delete(entries, name)
				stale[kind] = append(stale[kind], name)
				some = true
			}
		}
	}
	return stale, some
}

// dropRefusedLocked takes out of the hub the names the server refused to
// renew (their entries, where still the ones renewed): a shard channel of
// a cluster refused with a slot error is re-homed (its slot moved); any
// other is forgotten by its subscribers, who are told of the reconnect. (A
// subscriber left holding nothing stays one of the hub's, as one that
// unsubscribed everything does: only changes, in their turn, take
// subscribers out.) The caller holds h.mu.
func (h *pubsubHub) dropRefusedLocked(renewed *renewal) {
	for kind, names := range renewed.refused {
		for _, r := range names {
			e := renewed.entries[kind][r.name]
			delete(renewed.entries[kind], r.name)
			if h.names[kind][r.name] != e {
				continue
			}
			if subKind(kind) == kindShard && slotError(r.why) && h.n != nil && h.m.router.Sharded() {
				for ps := range e.subs {
					if renewed.rehoming == nil {
						renewed.rehoming = map[*PubSub]bool{}
					}
					renewed.rehoming[ps] = true // told by the re-homing, once the name is live again
				}
				h.rehomeLocked([]string{r.name}, true, nil)
				continue
			}
			delete(h.names[kind], r.name)
			for ps := range e.subs {
				ps.forget(subKind(kind), []string{r.name})
				h.dropped[ps] = true
			}
			h.missed = true
		}
	}
}

// unsubscribeAll unsubscribes names on c, a connection no one else uses
// yet, and waits for the server to confirm.
func (h *pubsubHub) unsubscribeAll(ctx context.Context, c *psConn, names [kindCount][]string) error {
	for kind, group := range names {
		if len(group) == 0 {
			continue
		}
		waiters, err := h.unsubscribe(c, subKind(kind), group)
		if err != nil {
			return err
		}
		for _, w := range waiters {
			if err := w.wait(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// connect dials a connection and subscribes to everything the hub holds;
// it returns what it subscribed. A failure to connect or to renew is told
// to the router here, once (see toldError), unless the Mux is closing.
func (h *pubsubHub) connect(ctx context.Context) (*psConn, renewal, error) {
	n := h.n
	if n == nil { // the global hub: any node the router offers
		var err error
		if n, err = h.m.route(ctx, NoSlot, false); err != nil {
			return nil, renewal{}, err
		}
	}
	rc, err := n.d.dial(ctx)
	if err != nil {
		h.trouble(n, err)
		return nil, renewal{}, &toldError{err: err}
	}
	c := &psConn{h: h, n: n, rc: rc, dead: make(chan struct{})}
	h.m.bg.Add(1) // inside a spawned dial: the count is not zero
	go c.readLoop()
	if t := h.m.s.socketTimeout; t > 0 {
		h.m.bg.Add(1)
		go c.watch(t)
	}
	var renewed renewal
	var names [kindCount][]string
	h.mu.Lock()
	for kind, m := range h.names {
		renewed.entries[kind] = map[string]*subEntry{}
		for name, e := range m {
			if e.sentOn == nil {
				continue // its change sends it once this dial is done
			}
			select {
			case <-e.ready:
			default:
				// In flight on a lost connection: it fails with that one
				// (possibly after this dial is installed, too late for
				// staleLocked), so it must not be renewed here.
				continue
			}
			renewed.entries[kind][name] = e
			names[kind] = append(names[kind], name)
		}
	}
	h.mu.Unlock()
	for kind, names := range names {
		if len(names) == 0 {
			continue
		}
		for _, group := range h.bySlot(subKind(kind), names) {
			if err := h.renew(ctx, c, subKind(kind), group, &renewed.refused[kind]); err != nil {
				err = dialCtxErr(ctx, err, "renewing the subscriptions")
				c.fail(err)
				return nil, renewed, h.told(c, err)
			}
		}
	}
	if hook := afterRenew.Load(); hook != nil {
		(*hook)(h, c)
	}
	return c, renewed, nil
}

// trouble tells the router of a failure of n's pub/sub connection, unless
// the Mux is closing.
func (h *pubsubHub) trouble(n *Node, err error) {
	if n != nil && err != nil && !errors.Is(err, ErrClosed) && !h.m.closed.Load() {
		h.m.router.Trouble(n, err)
	}
}

// dialCtxErr is err, of a step of a dial whose ctx (the dial's own, not a
// caller's) may have run out, as the dial's waiters get it: a server that
// did not answer in time is a connection's failure, not the end of their
// ctx, so ctx's error becomes one (matching ErrConnection and
// ErrSocketTimeout, not ctx's error). Other errors are returned as they
// are.
func dialCtxErr(ctx context.Context, err error, what string) error {
	if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
		return err
	}
	return connErr(what, fmt.Errorf("%w: the server did not answer in time (%v)", ErrSocketTimeout, ctx.Err()))
}

// told tells the router of err, c's failure, unless the client failed c on
// purpose (then it is not the node's trouble), and returns err marked as
// dealt with (toldError).
func (h *pubsubHub) told(c *psConn, err error) error {
	if !c.byUs.Load() {
		h.trouble(c.n, err)
	}
	return &toldError{err: err}
}

// toldError is the error of a dial that the dial dealt with as the node's
// trouble (told the router, or found it the client's own doing: see told
// and connect), as the dial's waiters get it inside the hub: a re-homing
// must not tell it again. Errors the dial did not tell (no node to route
// to, say) come unmarked. The API returns the error itself (see userErr).
type toldError struct{ err error }

func (e *toldError) Error() string { return e.err.Error() }
func (e *toldError) Unwrap() error { return e.err }

// afterRenew, when set (tests only), runs in every dial once the new
// connection has renewed the hub's subscriptions and before it is
// installed: the window in which a name given up must not stay subscribed.
// Atomic: tests set it while a reconnect of a previous step may still run.
var afterRenew atomic.Pointer[func(h *pubsubHub, c *psConn)]

// lost is told, by c's reader and before c is failed, that c is gone, and
// why (cause). While subscribers remain it reconnects, with backoff, until
// that works or the Mux closes; the subscribers are told once it does.
func (h *pubsubHub) lost(c *psConn, cause error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != c {
		// Not installed yet (or never will be): see dial.
		c.lostEarly, c.lostCause = true, cause
		return
	}
	h.lostLocked(c, cause)
}

// lostLocked is lost for the installed connection c. The router is told
// (unless c was closed on purpose): the node may be gone. A hub that holds
// no subscription (its subscribers only pinged, or unsubscribed
// everything) does not reconnect: nothing is to be renewed or missed, and
// whoever needs a connection next dials it. The caller holds h.mu.
func (h *pubsubHub) lostLocked(c *psConn, cause error) {
	if !c.byUs.Load() {
		h.trouble(c.n, cause) // must not block (see Router)
	}
	h.conn = nil
	if len(h.subs) == 0 || h.m.closed.Load() || !h.holdsNamesLocked() {
		// No reconnect: those whose names a renewal refused (on this
		// connection, lost before it was installed) are told now.
		h.tellDroppedLocked()
		return
	}
	if h.n != nil && h.m.router.Sharded() {
		// A node hub of a cluster client holds shard channels only: their
		// slots may have a new owner now. Re-home them, wherever that is.
		h.rehomeLocked(nil, false, c)
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
		held := h.holdsNamesLocked()
		if h.m.closed.Load() || len(h.subs) == 0 || !held || (h.conn != nil && !h.conn.isDead()) {
			h.retrying = false
			if !held {
				// Everything unsubscribed meanwhile, or refused: nothing
				// to renew; whoever needs a connection next dials it.
				h.missed = false
				h.tellDroppedLocked()
			}
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
		if hook := afterReconnectCheck.Load(); hook != nil {
			(*hook)(ok)
		}
		if ok {
			// Ended at the top, under the lock that sees it live: a loss
			// after that starts a loop again (lost finds retrying false).
			continue
		}
		if sleepCtx(h.m.ctx, backoff(min(attempt, 6))) != nil {
			break
		}
	}
	h.mu.Lock()
	h.retrying = false
	h.mu.Unlock()
}

// afterReconnectCheck, when set (tests only), runs in the reconnect loop
// each time a dial it waited for has ended, with whether the hub then had a
// live connection.
var afterReconnectCheck atomic.Pointer[func(ok bool)]
