package client

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

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
