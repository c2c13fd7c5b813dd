package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/justredis/justredis/resp"
)

// MessageKind says what a Message is.
type MessageKind uint8

// The kinds of Message.
const (
	KindMessage     MessageKind = iota + 1 // a message published to a subscribed channel
	KindPMessage                           // a message published to a channel matching a subscribed pattern
	KindSubscribe                          // confirmation of a channel or pattern subscription (PubSubOptions.Confirmations)
	KindUnsubscribe                        // confirmation of an unsubscription (PubSubOptions.Confirmations)
	KindReconnected                        // the connection was lost and re-established: messages may have been missed
	KindOverflow                           // Channel only: Dropped messages were discarded because the subscriber fell behind
	KindSMessage                           // a message published (SPUBLISH) to a subscribed shard channel
)

// String names the kind.
func (k MessageKind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindPMessage:
		return "pmessage"
	case KindSubscribe:
		return "subscribe"
	case KindUnsubscribe:
		return "unsubscribe"
	case KindReconnected:
		return "reconnected"
	case KindOverflow:
		return "overflow"
	case KindSMessage:
		return "smessage"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Message is what a subscriber receives.
type Message struct {
	Kind    MessageKind
	Channel string // the channel (or, for pattern confirmations, the pattern)
	Pattern string // KindPMessage: the pattern that matched
	Payload string // KindMessage, KindPMessage: the message
	Data    any    // Payload decoded by PubSubOptions.Decoder, if set
	Dropped int64  // KindOverflow: how many messages were dropped
}

// PubSubOptions configure a subscriber. The zero value means the defaults.
type PubSubOptions struct {
	// BufferSize is how many messages the subscriber may hold unread; when
	// it is full, new messages for it are dropped and counted, and Receive
	// reports the loss (see ErrOverflow). Default DefaultPubSubBuffer.
	BufferSize int
	// Confirmations makes Receive also return KindSubscribe and
	// KindUnsubscribe messages.
	Confirmations bool
	// Decoder, if set, decodes each payload into Message.Data.
	Decoder DecodeFunc
}

// DefaultPubSubBuffer is the default PubSubOptions.BufferSize.
const DefaultPubSubBuffer = 1024

// ErrOverflow: a subscriber fell behind and messages were dropped; Receive
// returns it (as an *OverflowError saying how many) once, then goes on.
var ErrOverflow = errors.New("client: subscriber too slow: messages dropped")

// OverflowError reports how many messages a slow subscriber lost.
type OverflowError struct{ Dropped int64 }

// Error implements error: ErrOverflow's text and the count.
func (e *OverflowError) Error() string {
	return ErrOverflow.Error() + ": " + strconv.FormatInt(e.Dropped, 10)
}

// Unwrap returns ErrOverflow.
func (e *OverflowError) Unwrap() error { return ErrOverflow }

// PubSub is a subscriber. Several subscribers share one pub/sub connection
// per server; each receives only the messages of its own channels and
// patterns, in its own bounded buffer, so that a slow subscriber stalls
// neither commands nor other subscribers. When the connection drops, it is
// re-established with backoff, every subscription is renewed, and each
// subscriber then receives a KindReconnected message (after the messages
// it still holds from the lost connection): once it comes, every
// subscription is live again, so state read from the server from then on
// misses no later message (messages of the new connection that arrived
// while the subscriptions were being renewed may come just before it). A
// name the server refuses to subscribe again (its ACL permission revoked,
// say) is dropped from the subscriber's names (Subscriptions), and only
// it: subscribing it again says why. A connection that goes silent is
// noticed only with Config.SocketTimeout set (the default): an idle one is
// then checked with a PING (see Config.SocketTimeout). Publish with
// Database.Do.
type PubSub struct {
	m    *Mux
	opts PubSubOptions
	msgs chan Message // buffered: BufferSize

	dropped     atomic.Int64 // messages lost since the last report
	reconnected atomic.Bool  // a reconnect not yet reported

	mu    sync.Mutex
	names [kindCount]map[string]bool // guarded by mu: this subscriber's channels, patterns, shard channels
	// changing: by kind, the names whose change (add or removal) is in
	// flight, each with a channel its call closes when done (see change).
	// Guarded by mu.
	changing [kindCount]map[string]chan struct{}
	hubs     map[*pubsubHub]bool // guarded by mu: the hubs holding its subscriptions
	closed   bool                // guarded by mu
	done     chan struct{}       // closed by Close
	feed     chan Message        // Channel's output; nil until Channel is called
}

// PubSub returns a new subscriber, with no subscriptions yet.
func (m *Mux) PubSub(opts PubSubOptions) *PubSub {
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultPubSubBuffer
	}
	return &PubSub{
		m:        m,
		opts:     opts,
		msgs:     make(chan Message, opts.BufferSize),
		names:    [kindCount]map[string]bool{{}, {}, {}},
		changing: [kindCount]map[string]chan struct{}{{}, {}, {}},
		hubs:     map[*pubsubHub]bool{},
		done:     make(chan struct{}),
	}
}

// Subscribe adds channels, and returns once the server confirms them:
// messages published afterwards reach this subscriber.
func (ps *PubSub) Subscribe(ctx context.Context, channels ...string) error {
	return ps.change(ctx, kindChannel, true, channels)
}

// PSubscribe adds patterns (PSUBSCRIBE).
func (ps *PubSub) PSubscribe(ctx context.Context, patterns ...string) error {
	return ps.change(ctx, kindPattern, true, patterns)
}

// Unsubscribe removes channels: once it returns nil, no more of their
// messages are queued for the subscriber (those queued before are still
// received); the server's confirmation is waited for as long as ctx lets
// it. If ctx ends first, the channels whose removal had
// begun are removed anyway (with Confirmations, each is confirmed); those
// whose turn had not come are still subscribed, and Unsubscribe may be
// called for them again.
func (ps *PubSub) Unsubscribe(ctx context.Context, channels ...string) error {
	return ps.change(ctx, kindChannel, false, channels)
}

// PUnsubscribe removes patterns.
func (ps *PubSub) PUnsubscribe(ctx context.Context, patterns ...string) error {
	return ps.change(ctx, kindPattern, false, patterns)
}

// SSubscribe adds shard channels (SSUBSCRIBE, Redis 7): on a cluster each
// is subscribed on the node that owns its slot, and moved to the new owner
// when the slot moves or the node fails over (with a KindReconnected
// message: some may have been missed). Messages come as KindSMessage. A
// MOVED answer (the router's view of the slots is behind) is followed, up
// to the redirection cap of commands. When it fails, the channels it did
// subscribe stay (Subscriptions lists them), and the others do not: one
// already subscribed on its node (for another subscriber) when that node's
// connection was lost counts as subscribed, and moves with the others.
func (ps *PubSub) SSubscribe(ctx context.Context, channels ...string) error {
	for redirects := 0; ; redirects++ {
		err := ps.change(ctx, kindShard, true, channels)
		e := movedReply(err)
		if e == nil || !ps.m.router.Sharded() || redirects >= maxRedirects || ctx.Err() != nil {
			return err
		}
		// What was subscribed stays (change skips it); what failed was
		// forgotten, and goes where the slot is now.
		from, _ := ps.m.route(ctx, e.Slot, false) // the node that answered
		ps.m.router.Moved(e.Slot, redirectAddr(e.Addr, from))
	}
}

// SUnsubscribe removes shard channels, as Unsubscribe does channels. A
// node that answers MOVED (its slot has left it, and with it every
// subscription to it) has done what was asked.
func (ps *PubSub) SUnsubscribe(ctx context.Context, channels ...string) error {
	return ps.change(ctx, kindShard, false, channels)
}

// change adds or removes names of one kind. An add that fails leaves
// recorded only the names it did subscribe (the groups of hubs done before
// the failure, and those of the failed group that were confirmed and are
// being re-homed with ps: see pubsubHub.release), so that a retry
// subscribes the others. A removal takes ps out of every hub that holds
// the names, wherever their slots are now.
//
// A name already as asked, because another call's change of it is still
// in flight (two goroutines subscribing one channel), waits for that call:
// it returns only once the change is done, as if its own, and does it
// itself if that call failed. (It used to return at once, before the
// server had confirmed anything.) A name that call kept because a
// re-homing is moving it counts as done, as it does for that call.
func (ps *PubSub) change(ctx context.Context, kind subKind, add bool, names []string) error {
	for {
		ps.mu.Lock()
		if ps.closed {
			ps.mu.Unlock()
			return ErrClosed
		}
		set, busy := ps.names[kind], ps.changing[kind]
		var todo []string
		var others []chan struct{} // other calls' changes in flight of names already as asked
		for _, name := range names {
			if set[name] != add {
				todo = append(todo, name)
				if add {
					set[name] = true
				} else {
					delete(set, name)
				}
			} else if ch := busy[name]; ch != nil && !slices.Contains(others, ch) {
				others = append(others, ch)
			}
		}
		var mine chan struct{}
		if len(todo) > 0 {
			mine = make(chan struct{})
			for _, name := range todo {
				busy[name] = mine
			}
		}
		var hubs []*pubsubHub
		if !add {
			hubs = make([]*pubsubHub, 0, len(ps.hubs))
			for h := range ps.hubs {
				hubs = append(hubs, h)
			}
		}
		ps.mu.Unlock()
		if len(todo) > 0 {
			err := userErr(ps.apply(ctx, kind, add, todo, hubs))
			ps.mu.Lock()
			for _, name := range todo {
				if busy[name] == mine {
					delete(busy, name)
				}
			}
			ps.mu.Unlock()
			close(mine)
			if err != nil {
				return err
			}
		}
		if len(others) == 0 {
			return nil
		}
		if err := ps.awaitChanges(ctx, others); err != nil {
			return err
		}
		// Again: what those calls failed to do is this one's to do.
	}
}

// awaitChanges waits for other calls' changes in flight (see change), for
// ctx, or for Close.
func (ps *PubSub) awaitChanges(ctx context.Context, changes []chan struct{}) error {
	for _, ch := range changes {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-ps.done:
			return ErrClosed
		}
	}
	return nil
}

// apply makes the change of names, which change has just recorded (added
// to or removed from ps's names); hubs are ps's hubs, for a removal.
func (ps *PubSub) apply(ctx context.Context, kind subKind, add bool, todo []string, hubs []*pubsubHub) error {
	if !add {
		// The names are no longer recorded, so no hub adds ps to them
		// again (see claim): a hub that does not hold them now never will.
		var err error
		for _, h := range hubs {
			if h.holds(ps, kind, todo) {
				if _, herr := h.change(ctx, ps, kind, false, todo); herr != nil && err == nil {
					err = herr
				}
			}
		}
		if err != nil {
			todo = ps.keepHeld(kind, todo, hubs)
		}
		ps.confirm(KindUnsubscribe, todo)
		return err
	}
	groups, err := ps.m.hubsFor(ctx, kind, todo)
	if err != nil {
		ps.forget(kind, todo)
		return err
	}
	var done []string
	for h, names := range groups {
		if err == nil {
			var kept []string
			if kept, err = h.change(ctx, ps, kind, true, names); err == nil {
				done = append(done, names...)
				continue
			}
			names = slices.DeleteFunc(names, func(name string) bool { return slices.Contains(kept, name) })
		}
		ps.forget(kind, names) // failed (less those still held), or not tried after a failure
	}
	ps.confirm(KindSubscribe, done)
	return err
}

// confirm delivers confirmations of names, if the subscriber asked for
// them (PubSubOptions.Confirmations).
func (ps *PubSub) confirm(kind MessageKind, names []string) {
	if !ps.opts.Confirmations {
		return
	}
	for _, name := range names {
		ps.deliver(Message{Kind: kind, Channel: name})
	}
}

// Receive returns the next message. After the subscriber fell behind it
// first returns an *OverflowError (matching ErrOverflow) saying how many
// messages were lost; after a reconnect, a KindReconnected message, in
// order: after every message of the lost connection it still holds (when
// its buffer is full, the oldest message gives way, and counts as lost;
// should other connections' publishers keep refilling it faster than
// room is made, it comes ahead of them rather than not at all).
// Once the subscriber is closed it returns ErrClosed, even with messages
// still buffered.
func (ps *PubSub) Receive(ctx context.Context) (Message, error) {
	select {
	case <-ps.done:
		return Message{}, ErrClosed
	case <-ps.m.ctx.Done():
		return Message{}, ErrClosed
	default:
	}
	if n := ps.dropped.Swap(0); n > 0 {
		return Message{}, &OverflowError{Dropped: n}
	}
	if ps.reconnected.Swap(false) {
		return Message{Kind: KindReconnected}, nil
	}
	select {
	case msg := <-ps.msgs:
		return ps.decode(msg), nil
	case <-ps.done:
		return Message{}, ErrClosed
	case <-ps.m.ctx.Done():
		return Message{}, ErrClosed
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Channel returns a Go channel of the subscriber's messages, for use with
// select; it is closed by Close (or when the Mux closes). Losses appear on it
// as KindOverflow messages. Use either Channel or Receive, not both.
func (ps *PubSub) Channel() <-chan Message {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.feed == nil {
		ps.feed = make(chan Message)
		m := ps.m
		feed := ps.feed
		if !m.spawn(func() { ps.pump(feed) }) {
			close(feed)
		}
	}
	return ps.feed
}

// pump feeds Channel's channel from Receive.
func (ps *PubSub) pump(feed chan Message) {
	defer close(feed)
	ctx := ps.m.ctx
	for {
		msg, err := ps.Receive(ctx)
		var oe *OverflowError
		if errors.As(err, &oe) {
			msg, err = Message{Kind: KindOverflow, Dropped: oe.Dropped}, nil
		}
		if err != nil {
			return
		}
		select {
		case feed <- msg:
		case <-ps.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Ping sends PING on the pub/sub connections that hold the subscriber's
// subscriptions and waits for their answers: a way to check that the
// subscription path is alive. On a cluster those are the connection of
// channels and patterns, if it has any, and that of each node holding its
// shard channels; a subscriber with no subscriptions pings the connection
// of channels and patterns. It dials a connection if there is none, and the
// subscriber then keeps each connection it pinged open, subscribed there or
// not, until it closes. It returns the first error.
func (ps *PubSub) Ping(ctx context.Context, msg string) error {
	if ps.m.single != nil {
		return userErr(ps.m.single.hub.ping(ctx, ps, msg))
	}
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return ErrClosed
	}
	global := len(ps.names[kindChannel]) > 0 || len(ps.names[kindPattern]) > 0
	var hubs []*pubsubHub
	for h := range ps.hubs {
		if h.n != nil {
			hubs = append(hubs, h)
		}
	}
	ps.mu.Unlock()
	hubs = slices.DeleteFunc(hubs, func(h *pubsubHub) bool { return !h.holdsAny(ps) })
	if global || len(hubs) == 0 {
		hubs = append(hubs, ps.m.globalHub())
	}
	for _, h := range hubs {
		if err := h.ping(ctx, ps, msg); err != nil {
			return userErr(err)
		}
	}
	return nil
}

// Close unsubscribes everything and stops the subscriber; Receive then
// returns ErrClosed. It waits neither for the server nor for a connection
// being dialled: no message reaches the subscriber after it returns, and
// the UNSUBSCRIBEs go out as soon as they can.
func (ps *PubSub) Close() error {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return nil
	}
	ps.closed = true
	close(ps.done)
	hubs := ps.hubs
	ps.hubs = map[*pubsubHub]bool{}
	ps.mu.Unlock()
	for h := range hubs {
		h.remove(ps)
	}
	return nil
}

// forget drops names from the subscriber's records (a subscription that
// failed).
func (ps *PubSub) forget(kind subKind, names []string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	set := ps.names[kind]
	for _, name := range names {
		delete(set, name)
	}
}

// Subscriptions returns the subscriber's channels, patterns and shard
// channels, each sorted: those it subscribed and has not left, less any a
// reconnect could not renew (see PubSub). An add in progress is included
// until it fails. A closed subscriber has none.
func (ps *PubSub) Subscriptions() (channels, patterns, shardChannels []string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, nil, nil
	}
	sorted := func(set map[string]bool) []string { return slices.Sorted(maps.Keys(set)) }
	return sorted(ps.names[kindChannel]), sorted(ps.names[kindPattern]), sorted(ps.names[kindShard])
}

// keepHeld puts back, after a failed unsubscribe, the names a hub still
// holds ps in (its ctx ended before the hub's turn came: nothing changed
// there), so that ps's view stays the hubs' and the caller can try again.
// It returns the others: those are unsubscribed.
func (ps *PubSub) keepHeld(kind subKind, names []string, hubs []*pubsubHub) (gone []string) {
	for _, name := range names {
		if !slices.ContainsFunc(hubs, func(h *pubsubHub) bool { return h.putBack(ps, kind, name) }) {
			gone = append(gone, name)
		}
	}
	return gone
}

// claim is called by a hub's change, in the hub's turn and under its mu, before
// it adds ps to names there. It reports false if ps is closed; otherwise it
// records that h holds subscriptions of ps and returns the names ps still
// wants: a concurrent Unsubscribe, a failure or Close, having dropped the
// others from ps's records first, cannot be undone by the hub.
func (ps *PubSub) claim(h *pubsubHub, kind subKind, names []string) ([]string, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, false
	}
	ps.hubs[h] = true
	wanted := make([]string, 0, len(names))
	for _, name := range names {
		if ps.names[kind][name] {
			wanted = append(wanted, name)
		}
	}
	return wanted, true
}

// wants reports whether the subscriber is open and still has name
// recorded.
func (ps *PubSub) wants(kind subKind, name string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return !ps.closed && ps.names[kind][name]
}

// notifyReconnected tells the subscriber that messages may have been
// missed. The KindReconnected message is queued behind the messages
// already buffered, never ahead of them (a subscriber that re-reads its
// state when told must not then apply older messages on top of it): when
// the buffer is full, the oldest message is dropped, and counted as lost,
// to make room.
func (ps *PubSub) notifyReconnected() {
	// Under ps.mu, as Close sets closed: nothing reaches a subscriber once
	// its Close has returned. (Callers may hold a hub's mu: h.mu comes
	// before ps.mu.)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return
	}
	// Other hubs' readers may deliver meanwhile (never waiting, they drop
	// what does not fit), and Receive may take messages: each round
	// either queues it or finds the buffer full again and makes room.
	for range 2 * cap(ps.msgs) {
		select {
		case ps.msgs <- Message{Kind: KindReconnected}:
			return
		default:
		}
		select {
		case <-ps.msgs:
			ps.dropped.Add(1)
		default:
		}
	}
	// Still full: publishers outpace this loop. Told ahead of the queue,
	// rather than not at all.
	ps.reconnected.Store(true)
}

// deliver queues a message for the subscriber, or counts it lost. It runs
// on the connection's reader: it never waits.
func (ps *PubSub) deliver(msg Message) {
	select {
	case ps.msgs <- msg:
	default:
		ps.dropped.Add(1)
	}
}

// decode fills Data, on the receiving goroutine. A payload the decoder
// rejects gets the decoder's error as its Data.
func (ps *PubSub) decode(msg Message) Message {
	if ps.opts.Decoder != nil && (msg.Kind == KindMessage || msg.Kind == KindPMessage || msg.Kind == KindSMessage) {
		if d, err := ps.opts.Decoder(resp.Bulk(msg.Payload)); err == nil {
			msg.Data = d
		} else {
			msg.Data = err
		}
	}
	return msg
}

// String describes the subscriber, for logs.
func (ps *PubSub) String() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return fmt.Sprintf("PubSub{%d channels, %d patterns, %d shard channels, %d queued}",
		len(ps.names[kindChannel]), len(ps.names[kindPattern]), len(ps.names[kindShard]), len(ps.msgs))
}

// hubsFor groups names by the hub that must hold them: the single server's
// hub on a Mux made by New; under a sharded router, the global hub for
// channels and patterns (any node will do: messages reach every node) and
// the owner's hub for each shard channel.
func (m *Mux) hubsFor(ctx context.Context, kind subKind, names []string) (map[*pubsubHub][]string, error) {
	if m.single != nil {
		return map[*pubsubHub][]string{m.single.hub: names}, nil
	}
	if kind != kindShard {
		return map[*pubsubHub][]string{m.globalHub(): names}, nil
	}
	out := map[*pubsubHub][]string{}
	for _, name := range names {
		n, err := m.shardNode(ctx, name)
		if err != nil {
			return nil, err
		}
		out[n.hub] = append(out[n.hub], name)
	}
	return out, nil
}

// shardNode is the node that owns a shard channel's slot.
func (m *Mux) shardNode(ctx context.Context, channel string) (*Node, error) {
	slot, _ := m.slotOfKeys([]string{channel}, NoSlot, "") // one key: never cross-slot
	return m.route(ctx, slot, false)
}

// globalHub is, under a router, the hub of channel and pattern
// subscriptions: it belongs to no node and connects to whichever the router
// offers, again after a failure.
func (m *Mux) globalHub() *pubsubHub {
	m.psMu.Lock()
	defer m.psMu.Unlock()
	if m.psHub == nil {
		m.psHub = newPubSubHub(m, nil)
	}
	return m.psHub
}
