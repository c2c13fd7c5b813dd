package client

import (
	"context"
	"errors"
)

// Re-homing: shard channels whose node lost their slot (or its connection)
// are subscribed again where their slot is served now.

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
				e := movedReply(err)
				if e == nil || len(left) == 0 || n == nil || redirects >= maxRedirects || m.ctx.Err() != nil {
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
