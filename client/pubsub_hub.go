package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/justredis/justredis/resp"
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
	// sentOn is the connection its SUBSCRIBE went out on (nil before):
	// when that one is lost before the confirmation, the subscribe fails
	// with it; when another one is, the subscribe still goes out on the
	// next. Guarded by the hub's mu.
	sentOn *psConn
	// rehomed: taken out of the hub, confirmed, by a re-homing, which
	// subscribes its subscribers (those it had then) on the slot's owner.
	// Guarded by the hub's mu.
	rehomed bool
}

// pubsubHub is a pub/sub connection and the subscriptions of all its
// subscribers: it subscribes a name on the server while at least one
// subscriber wants it, and hands each message to the subscribers of its
// channel or pattern without ever waiting for them. Each node has one (on a
// cluster it holds only shard channels of the slots the node owns); a
// cluster client also has a global one, attached to no node, for channels
// and patterns.
//
// Changes take turns (turn) together with the commands they need, so that
// the server sees SUBSCRIBE and UNSUBSCRIBE in the order the hub's
// bookkeeping made them; confirmations are waited for after the turn. A
// caller waits for its turn only as long as its ctx lets it: the one
// before it may be waiting for a dial.
type pubsubHub struct {
	m *Mux
	n *Node // its node; nil for a cluster client's global hub

	turn chan struct{} // holds a token while a change updates subscriptions and writes their commands

	mu       sync.Mutex
	subs     map[*PubSub]bool                // guarded by mu: open subscribers
	names    [kindCount]map[string]*subEntry // guarded by mu: by kind, name -> entry
	conn     *psConn                         // guarded by mu: the current connection, nil if none
	dialing  chan struct{}                   // guarded by mu: closed when the dial in progress ends
	dialErr  error                           // guarded by mu: the last dial's error
	retrying bool                            // guarded by mu: the reconnect loop is running
	pingers  map[*PubSub]bool                // guarded by mu: subscribers that pinged (kept in subs, holding names or not, until they close)
	dropped  map[*PubSub]bool                // guarded by mu: subscribers a renewal dropped names of, to be told with the others (see dial)
	missed   bool                            // guarded by mu: a connection with subscriptions was lost; tell on the next one
}

func newPubSubHub(m *Mux, n *Node) *pubsubHub {
	return &pubsubHub{
		m:       m,
		n:       n,
		turn:    make(chan struct{}, 1),
		subs:    map[*PubSub]bool{},
		pingers: map[*PubSub]bool{},
		dropped: map[*PubSub]bool{},
		names:   [kindCount]map[string]*subEntry{{}, {}, {}},
	}
}

// lock waits for the hub's turn, or for ctx to end (then the caller has
// changed nothing, and the error is a *waitError).
func (h *pubsubHub) lock(ctx context.Context) error {
	select {
	case h.turn <- struct{}{}:
		return nil
	default:
	}
	select {
	case h.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &waitError{err: ctx.Err()}
	}
}

// waitError is ctx's error for a change whose ctx ended while it waited
// for the hub's turn or for a dial in progress: not the node's doing (a
// dial that fails to connect tells the router itself). A re-homing does
// not count it as the node's trouble. It unwraps to ctx's error, and the
// API returns ctx's error itself (see userErr).
type waitError struct{ err error }

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// userErr is err as the API returns it: a waitError's ctx error itself, a
// toldError's error itself.
func userErr(err error) error {
	switch e := err.(type) {
	case *waitError:
		return e.err
	case *toldError:
		return e.err
	}
	return err
}

// unlock ends the turn.
func (h *pubsubHub) unlock() { <-h.turn }

// change updates ps's subscriptions and, for names that gain their first or
// lose their last subscriber, the server's; it returns once every name ps
// added is confirmed by the server. An add that fails leaves ps holding
// none of names here (the caller forgets them); it only adds names ps still
// wants, checked in its turn together with whether ps is open, so that a
// concurrent Close, Unsubscribe or failure is never undone by it. When ctx
// ends before its turn comes, it returns ctx's error having changed
// nothing. A failed add returns in kept the names ps joined confirmed and
// a re-homing has since taken, ps with them: those are still ps's (see
// release).
func (h *pubsubHub) change(ctx context.Context, ps *PubSub, kind subKind, add bool, names []string) (kept []string, err error) {
	if err := h.lock(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	if add {
		var open bool
		if names, open = ps.claim(h, kind, names); !open {
			h.mu.Unlock()
			h.unlock()
			return nil, ErrClosed
		}
	}
	m := h.names[kind]
	var server []string
	var mine []*subEntry           // add: the entry of each of names, which ps is now in
	var fresh map[string]*subEntry // add: the entries of server, made here
	for _, name := range names {
		e := m[name]
		if add {
			if e == nil {
				e = &subEntry{subs: map[*PubSub]bool{}, ready: make(chan struct{})}
				m[name] = e
				server = append(server, name)
				if fresh == nil {
					fresh = map[string]*subEntry{}
				}
				fresh[name] = e
			}
			e.subs[ps] = true
			mine = append(mine, e)
		} else if e != nil && e.subs[ps] {
			delete(e.subs, ps)
			if len(e.subs) == 0 {
				delete(m, name)
				server = append(server, name)
			}
		}
	}
	if add && len(names) > 0 {
		h.subs[ps] = true
	}
	h.mu.Unlock()
	if hook := afterEntries.Load(); hook != nil {
		(*hook)(h)
	}
	var waiters []*psWaiter
	if len(server) > 0 {
		unsent := server
		var c *psConn
		c, err = h.connection(ctx)
		switch {
		case err != nil:
		case add:
			unsent, err = h.subscribe(c, kind, server, fresh)
		default:
			waiters, err = h.unsubscribe(c, kind, server)
		}
		if err != nil && add {
			// No waiter will end the entries of the groups not sent.
			h.dropEntries(kind, unsent, fresh, err)
			for _, name := range unsent {
				close(fresh[name].ready)
			}
		}
	}
	h.unlock()
	if !add {
		for _, w := range waiters {
			if werr := w.wait(ctx); werr != nil && err == nil {
				err = werr
			}
		}
		return nil, err
	}
	// Wait for our own names and for the ones another subscriber's
	// SUBSCRIBE may still be confirming.
	for _, e := range mine {
		if err != nil {
			break
		}
		select {
		case <-e.ready:
			err = e.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		kept = h.release(ps, kind, names, mine)
	}
	return kept, err
}

// afterEntries, when set (tests only), runs in every change once the
// entries are made and before the connection is looked up: the window in
// which a lost connection must not take the new entries with it.
// Atomic: a change in the background (a re-homing) may read it while a
// test sets it.
var afterEntries atomic.Pointer[func(h *pubsubHub)]

// subscribe sends the commands that subscribe names, whose new entries are
// in fresh, on c: one command per slot for shard channels (see bySlot),
// each with a waiter that ends its entries. The caller has the turn. On an
// error it returns the names whose command was not sent: their entries
// are the caller's to end.
func (h *pubsubHub) subscribe(c *psConn, kind subKind, names []string, fresh map[string]*subEntry) (unsent []string, err error) {
	sub, _ := kind.commands()
	groups := h.bySlot(kind, names)
	for i, group := range groups {
		w := newWaiter(len(group), func(err error) {
			if err != nil {
				h.dropEntries(kind, group, fresh, err)
			}
			for _, name := range group {
				close(fresh[name].ready)
			}
		})
		h.mu.Lock()
		for _, name := range group {
			fresh[name].sentOn = c
		}
		h.mu.Unlock()
		if err := c.send(w, append([]string{sub}, group...)); err != nil {
			for _, g := range groups[i:] {
				unsent = append(unsent, g...)
			}
			return unsent, err
		}
	}
	return nil, nil
}

// unsubscribe sends the commands that unsubscribe names on c, one per slot
// for shard channels (see bySlot), each SUNSUBSCRIBE together with a PING
// (see psWaiter), and returns their waiters. The caller has the turn.
func (h *pubsubHub) unsubscribe(c *psConn, kind subKind, names []string) ([]*psWaiter, error) {
	_, unsub := kind.commands()
	var waiters []*psWaiter
	for _, group := range h.bySlot(kind, names) {
		args := append([]string{unsub}, group...)
		var w *psWaiter
		var err error
		if kind == kindShard {
			w = newShardUnsubWaiter(group)
			w.onDone = func(err error) { failOnRefusedUnsub(c, err) }
			err = c.send(w, args, []string{"PING"})
		} else {
			w = newWaiter(len(group), func(err error) { failOnRefusedUnsub(c, err) })
			err = c.send(w, args)
		}
		if err != nil {
			return waiters, err
		}
		waiters = append(waiters, w)
	}
	return waiters, nil
}

// failOnRefusedUnsub fails c when an unsubscribe of it was answered with an
// error (BUSY while a script runs, say; an SUNSUBSCRIBE's MOVED is not
// one: see psConn.handle): the hub has already dropped the names, which
// the server may still have subscribed on c. The reconnect that follows
// renews only what the hub holds, and tells the subscribers. It runs as a
// waiter's onDone, under c.mu.
func failOnRefusedUnsub(c *psConn, err error) {
	var reply *resp.Error
	if errors.As(err, &reply) {
		// The other waiters get the connection's failure, not the
		// server's answer to someone else's command as if their own.
		c.byUs.Store(true)
		c.failLocked(connErr("unsubscribe", errors.New(err.Error())))
	}
}

// bySlot splits names into the groups one command may carry: under a
// sharded router, shard channels one slot per group (Redis answers
// CROSSSLOT to an SSUBSCRIBE or SUNSUBSCRIBE naming several slots);
// anything else all in one group.
func (h *pubsubHub) bySlot(kind subKind, names []string) [][]string {
	if kind != kindShard || len(names) < 2 || !h.m.router.Sharded() {
		return [][]string{names}
	}
	index := map[int]int{} // slot -> its group's index
	var groups [][]string
	for _, name := range names {
		slot := h.m.router.KeySlot(name)
		i, ok := index[slot]
		if !ok {
			i = len(groups)
			index[slot] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], name)
	}
	return groups
}

// release undoes a failed add: ps leaves entries (the entry of each of
// names, where it still is the current one), and the names that lose their
// last subscriber are unsubscribed on the live connection, if any. A
// subscriber left holding nothing here is no longer one of the hub's; the
// last one to go closes the connection, as in remove. It does not wait for
// the server.
//
// It returns the names whose entry, confirmed, a re-homing took out of the
// hub with ps among its subscribers (the node's connection was lost while
// another of names was being confirmed): the re-homing subscribes ps to
// them on the slot's owner, so they stay ps's, and the caller must not
// forget them. (Forgotten, they used to be subscribed all the same when
// the re-homing asked ps first: ps got their messages, and Subscriptions
// did not list them.)
func (h *pubsubHub) release(ps *PubSub, kind subKind, names []string, entries []*subEntry) (kept []string) {
	// ps leaves its entries at once, under h.mu (a change in its turn makes
	// or joins entries under h.mu too: a fresh entry for a name exists only
	// because the name had none), so that no message of a name its caller
	// is about to forget reaches it. The rest needs the turn, which may be
	// held for a dial as long as that takes: it is done in the background,
	// so that the caller's ctx is honoured.
	h.mu.Lock()
	m := h.names[kind]
	var gone []string
	for i, e := range entries {
		if m[names[i]] != e || !e.subs[ps] {
			if e.rehomed && e.subs[ps] {
				kept = append(kept, names[i])
			}
			continue
		}
		delete(e.subs, ps)
		if len(e.subs) == 0 {
			delete(m, names[i])
			gone = append(gone, names[i])
		}
	}
	h.mu.Unlock()
	h.inTurn(func() {
		h.mu.Lock()
		if !h.holdsAnyLocked(ps) && !h.pingers[ps] && h.leftLastLocked(ps) {
			return
		}
		c := h.conn
		var still []string
		for _, name := range gone {
			if h.names[kind][name] == nil { // not taken again meanwhile
				still = append(still, name)
			}
		}
		h.mu.Unlock()
		if c != nil && len(still) > 0 {
			_, _ = h.unsubscribe(c, kind, still) // a failed write fails c: nothing is left subscribed on it
		}
	})
	return kept
}

// takeDroppedLocked returns the subscribers a renewal dropped names of, to
// be told (whether or not they are still the hub's: one that has left
// since, holding nothing, still lost those names; a closed one is taken
// out at its Close), and forgets them. The caller holds h.mu.
func (h *pubsubHub) takeDroppedLocked() []*PubSub {
	tell := slices.Collect(maps.Keys(h.dropped))
	clear(h.dropped)
	return tell
}

// tellDroppedLocked tells the subscribers a renewal dropped names of, when
// no reconnect is to tell them (see takeDroppedLocked). The caller holds
// h.mu.
func (h *pubsubHub) tellDroppedLocked() {
	for _, ps := range h.takeDroppedLocked() {
		ps.notifyReconnected()
	}
}

// holdsNamesLocked reports whether the hub holds any subscription, for
// anyone. The caller holds h.mu.
func (h *pubsubHub) holdsNamesLocked() bool {
	for _, m := range h.names {
		if len(m) > 0 {
			return true
		}
	}
	return false
}

// holdsAnyLocked reports whether ps is subscribed here to anything. The
// caller holds h.mu.
func (h *pubsubHub) holdsAnyLocked(ps *PubSub) bool {
	for _, m := range h.names {
		for _, e := range m {
			if e.subs[ps] {
				return true
			}
		}
	}
	return false
}

// holdsAny reports whether ps is subscribed here to anything.
func (h *pubsubHub) holdsAny(ps *PubSub) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.holdsAnyLocked(ps)
}

// holds reports whether ps is subscribed here to any of names.
func (h *pubsubHub) holds(ps *PubSub, kind subKind, names []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range names {
		if e := h.names[kind][name]; e != nil && e.subs[ps] {
			return true
		}
	}
	return false
}

// putBack records name in ps's names again if the hub holds ps in it,
// and reports whether it does: checked and recorded under the hub's mu, so
// that a re-homing of the name (which takes it out of the hub, under that
// lock, and then asks ps whether it still wants it) sees either both or
// neither.
func (h *pubsubHub) putBack(ps *PubSub, kind subKind, name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.names[kind][name]
	if e == nil || !e.subs[ps] {
		return false
	}
	ps.mu.Lock()
	if !ps.closed {
		ps.names[kind][name] = true
	}
	ps.mu.Unlock()
	return true
}

// dropEntries removes the failed entries of names (from entries, by name)
// so that the hub's view and the server's agree again; their subscribers
// see err and forget the names.
func (h *pubsubHub) dropEntries(kind subKind, names []string, entries map[string]*subEntry, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.names[kind]
	for _, name := range names {
		e := entries[name]
		e.err = err
		if m[name] == e {
			delete(m, name)
		}
	}
}

// ping sends PING on the pub/sub connection.
//
// ps becomes one of the hub's subscribers, if it was not, even with no
// subscription here: the connection is then kept for it until it closes
// (the last subscriber to close closes it), as for one that unsubscribed
// everything. (A Ping of a subscriber with no subscriptions used to leave
// the connection open for no one, and another subscriber's Close, the last
// one's, failed the Ping in flight.)
func (h *pubsubHub) ping(ctx context.Context, ps *PubSub, msg string) error {
	if err := h.lock(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	if _, open := ps.claim(h, kindChannel, nil); !open {
		h.mu.Unlock()
		h.unlock()
		return ErrClosed
	}
	h.subs[ps] = true // so a dial keeps its connection for us (see dial)
	h.pingers[ps] = true
	h.mu.Unlock()
	c, err := h.connection(ctx)
	var w *psWaiter
	if err == nil {
		args := []string{"PING"}
		if msg != "" {
			args = append(args, msg)
		}
		w = newWaiter(1, nil)
		err = c.send(w, args)
	}
	h.unlock()
	if err != nil {
		return err
	}
	return w.wait(ctx)
}

// remove drops a closed subscriber and its subscriptions; the last one to go
// closes the connection. ps leaves its entries at once (under h.mu), so
// that no message reaches it after Close; the rest, which needs the turn,
// runs in the background when the turn is held (by a change waiting for a
// dial, say), so that Close never waits for a dial: see inTurn.
func (h *pubsubHub) remove(ps *PubSub) {
	h.mu.Lock()
	delete(h.dropped, ps) // not to be told: it is closed
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
	h.mu.Unlock()
	h.inTurn(func() {
		h.mu.Lock()
		// ps leaves the subscribers only in the turn: a change holding it
		// may be waiting for a dial, which would discard its connection
		// (and be dialled again, at once) if the subscribers were gone.
		if h.leftLastLocked(ps) {
			return
		}
		c := h.conn
		var still [kindCount][]string
		for kind, names := range gone {
			for _, name := range names {
				if h.names[kind][name] == nil { // not taken again meanwhile
					still[kind] = append(still[kind], name)
				}
			}
		}
		h.mu.Unlock()
		if c == nil {
			return
		}
		for kind, names := range still {
			if len(names) > 0 {
				_, _ = h.unsubscribe(c, subKind(kind), names) // not waited for; a failed write fails c
			}
		}
	})
}

// leftLastLocked takes ps out of the hub's subscribers. If it was the
// last one, it closes the connection, having released h.mu, and returns
// true; otherwise h.mu stays held. The caller holds h.mu and the turn.
func (h *pubsubHub) leftLastLocked(ps *PubSub) bool {
	delete(h.subs, ps)
	delete(h.pingers, ps)
	if len(h.subs) > 0 {
		return false
	}
	c := h.conn
	h.conn = nil
	h.missed = false
	h.tellDroppedLocked()
	h.mu.Unlock()
	if c != nil {
		c.fail(ErrClosed)
	}
	return true
}

// inTurn runs f in the hub's turn: at once if the turn is free, otherwise
// in the background once it is (every holder of the turn lets go of it by
// the Mux's Close, which waits for the background; if the Mux is closed
// already, f does not run: its connections are closed). For the parts of
// a release or a Close that need the turn, whose callers must not wait as
// long as a dial may take.
func (h *pubsubHub) inTurn(f func()) {
	select {
	case h.turn <- struct{}{}: // free: done before returning
		defer h.unlock()
		f()
	default:
		h.m.spawn(func() {
			_ = h.lock(context.Background())
			defer h.unlock()
			f()
		})
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
	ctx, cancel := context.WithTimeout(h.m.ctx, time.Duration(h.m.s.connectRetry+1)*h.m.s.connectTimeout)
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
// messages. An entry not confirmed yet is dropped, not moved: its
// SSUBSCRIBE fails with the connection and its subscribers get the error
// (and forget the name), so re-homing it would subscribe them behind
// their back. movedAway says the server itself unsubscribed them (their
// slot left this node), so this node is the wrong answer. The caller holds
// h.mu.
func (h *pubsubHub) rehomeLocked(names []string, movedAway bool, lost *psConn) {
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
		select {
		case <-e.ready:
		default:
			// Still being confirmed: see above. One whose SSUBSCRIBE has
			// not gone out on the lost connection (not yet sent: its change
			// sends it on the next one) stays as it is.
			if lost == nil || e.sentOn == lost {
				delete(m, name)
			}
			continue
		}
		delete(m, name)
		e.rehomed = true
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
// refresh and the next try waits. A node that answers MOVED (it lost the
// slot, and the router has not seen it yet) is followed at once, as
// SSubscribe follows it: the router is told, and the channel tried again
// where the MOVED says, up to the redirection cap of commands; only then
// does the next try wait.
func (m *Mux) rehome(moving map[string][]*PubSub, from *Node) {
	refused := map[string]int{} // by name: attempts in a row its SSUBSCRIBE was answered NOPERM
	for attempt := 1; len(moving) > 0; attempt++ {
		if attempt > 1 && sleepCtx(m.ctx, backoff(min(attempt-1, 6))) != nil {
			return
		}
		for name, subs := range moving {
			left := subs
			for redirects := 0; ; redirects++ {
				var n *Node
				var err error
				left, n, err = m.rehomeTry(name, left, from, attempt, refused)
				var e *resp.Error
				if len(left) == 0 || n == nil || !errors.As(err, &e) || e.Prefix != "MOVED" || !e.IsRedirect() ||
					redirects >= maxRedirects || m.ctx.Err() != nil {
					break
				}
				m.router.Moved(e.Slot, redirectAddr(e.Addr, n)) // and again, at once
			}
			if len(left) == 0 {
				delete(moving, name)
			} else {
				moving[name] = left
			}
		}
	}
}

// rehomeTry is one try of rehome for one channel and its subscribers subs:
// it returns those left to subscribe, the node tried (nil if none was
// found), and the error of the try.
func (m *Mux) rehomeTry(name string, subs []*PubSub, from *Node, attempt int, refused map[string]int) (left []*PubSub, n *Node, err error) {
	ctx, cancel := context.WithTimeout(m.ctx, m.s.connectTimeout)
	defer cancel()
	n, err = m.shardNode(ctx, name)
	if err == nil && n == from && attempt <= 10 {
		err = errStaleRoute // give the refresh a chance before settling for the same node
	}
	for _, ps := range subs {
		if !ps.wants(kindShard, name) {
			continue // closed, or unsubscribed meanwhile (change checks again)
		}
		if err == nil {
			var kept []string
			if kept, err = n.hub.change(ctx, ps, kindShard, true, []string{name}); kept != nil {
				continue // confirmed there, then re-homed again with ps: that re-homing goes on with it
			}
		}
		if refusedOwn(err) && refused[name] >= 1 {
			// Refused twice, an attempt apart (once could be
			// another subscriber's SSUBSCRIBE of several names
			// whose entry this one joined): a permission revoked.
			// Dropped, as a refused renewal drops it (see PubSub),
			// not tried again for ever.
			ps.forget(kindShard, []string{name})
			ps.notifyReconnected()
			continue
		}
		if err != nil {
			left = append(left, ps)
			continue
		}
		ps.notifyReconnected()
	}
	if refusedOwn(err) {
		refused[name]++
	} else {
		delete(refused, name)
	}
	// Not the node's trouble: a refusal (MOVED included), a subscriber
	// closed, or this attempt's time spent waiting for the hub's turn or
	// for a dial in progress. Nor told here: a dial's failure, which the
	// dial told (toldError), and a connection's loss, which the hub told
	// (see lostLocked). Time spent waiting for the node's confirmation is,
	// as is a router that still names the node the channel left.
	if err != nil && n != nil && refusal(kindShard, err) == "" && !errors.Is(err, ErrClosed) &&
		!errors.As(err, new(*waitError)) && !errors.As(err, new(*toldError)) && !errors.Is(err, ErrConnection) {
		m.router.Trouble(n, err)
	}
	return left, n, err
}

// refusedOwn reports whether err is the server's NOPERM answer to a
// subscription itself, not a connection's failure or a handshake's.
func refusedOwn(err error) bool {
	return refusal(kindShard, err) == "NOPERM" && !errors.Is(err, ErrConnection) && !errors.Is(err, ErrAuth)
}

// errStaleRoute: the router still sends a moved shard channel to the node
// it left.
var errStaleRoute = errors.New("client: the router still names the node a shard channel left")

// unsubscribedByServer handles an sunsubscribe that answers none of our
// SUNSUBSCRIBEs (see psConn.confirmsUnsub): the server dropped the channel
// on its own, because its slot moved, so it is re-homed. Runs on the
// reader.
func (h *pubsubHub) unsubscribedByServer(channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names[kindShard][channel] != nil {
		h.rehomeLocked([]string{channel}, true, nil)
	}
}
