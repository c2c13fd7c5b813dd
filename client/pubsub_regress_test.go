package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// A subscriber closed while the hub's connection is being re-established
// (after the renewal of the hub's subscriptions on the new connection, and
// before it is installed: Close finds no connection to unsubscribe on, and
// does not wait for the dial) leaves nothing subscribed on the server. Its
// channel used to stay subscribed on the new connection for as long as
// the hub lived: PUBLISH counted it, and its messages were dropped.
func TestPubSubCloseDuringReconnect(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	keep := m.PubSub(PubSubOptions{})
	defer keep.Close()
	gone := m.PubSub(PubSubOptions{})
	if err := keep.Subscribe(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if err := gone.Subscribe(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	setAfterRenew(t, func(*pubsubHub, *psConn) { once.Do(func() { _ = gone.Close() }) })
	if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	if msg, err := keep.Receive(ctx); err != nil || msg.Kind != KindReconnected {
		t.Fatalf("Receive after the connection was killed: %+v, %v; want KindReconnected", msg, err)
	}
	if got := numsub(t, m, "keep", "gone"); got != "1 0" {
		t.Fatalf("PUBSUB NUMSUB keep gone = %v; want 1 0 (the closed subscriber's channel left subscribed)", got)
	}
}

// numsub returns the server's subscriber counts of channels (PUBSUB
// NUMSUB), space-separated.
func numsub(t *testing.T, m *Mux, channels ...string) string {
	t.Helper()
	args := []any{"PUBSUB", "NUMSUB"}
	for _, ch := range channels {
		args = append(args, ch)
	}
	v, err := m.Database(0).Do(testCtx(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	var counts []string
	for i := 1; i < len(v.Elems); i += 2 {
		counts = append(counts, fmt.Sprint(v.Elems[i].Int))
	}
	return strings.Join(counts, " ")
}

// The last subscriber leaving while the hub's connection is being
// re-established leaves no connection behind: the new one, which renewed
// subscriptions for subscribers all gone, is closed instead of installed.
// It used to stay open, subscribed to nothing, for the Mux's lifetime.
func TestPubSubLastSubscriberLeavesDuringReconnect(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	ps := subscriber(t, m, "ch")
	closeDuringReconnect(t, srv, m, ps)
	h := m.single.hub
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	if c != nil {
		t.Fatal("the hub keeps a connection with no subscriber left")
	}
	waitFor(t, "the server to have no pub/sub client", func() bool {
		v, err := srv.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub")
		return err == nil && strings.TrimSpace(v.Str) == ""
	})
}

// A connection lost after its dial renewed the hub's subscriptions and
// before the hub installed it: the dial fails, the hub reconnects and
// renews them again, and messages arrive.
func TestPubSubConnectionLostBeforeInstalled(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	ps := subscriber(t, m, "ch")
	var once sync.Once
	hooked := make(chan struct{})
	setAfterRenew(t, func(_ *pubsubHub, c *psConn) {
		once.Do(func() {
			defer close(hooked)
			if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
				t.Error(err)
			}
			waitFor(t, "the new connection to be lost", c.isDead)
		})
	})
	if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	<-hooked // the connection renewed after the first kill is lost too
	waitFor(t, "the subscription to be renewed on a live connection", func() bool {
		return numsub(t, m, "ch") == "1"
	})
	if n, err := Int64(m.Database(0).Do(ctx, "PUBLISH", "ch", "hi")); err != nil || n != 1 {
		t.Fatalf("PUBLISH reached %d, %v; want 1", n, err)
	}
	if msg := nextOfKind(t, ps, KindMessage); msg.Payload != "hi" {
		t.Fatalf("message %+v", msg)
	}
}

// setAfterRenew sets the afterRenew hook until the end of the test.
func setAfterRenew(t *testing.T, hook func(*pubsubHub, *psConn)) {
	afterRenew.Store(&hook)
	t.Cleanup(func() { afterRenew.Store(nil) })
}

// The only subscriber's first Subscribe giving up (its ctx) while the dial
// it started is still running leaves no connection behind: the dial, which
// finds no subscriber and no Ping waiting, closes its connection instead of
// installing it. It used to install it, open for no one.
func TestPubSubFirstSubscribeGivenUpDuringDial(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	result := make(chan error, 1)
	var subErr error
	hooked := make(chan struct{})
	var once sync.Once
	setAfterRenew(t, func(*pubsubHub, *psConn) {
		once.Do(func() {
			cancel()
			subErr = <-result // Subscribe has returned before the dial ends
			close(hooked)
		})
	})
	h := m.single.hub
	go func() { result <- ps.Subscribe(sctx, "ch") }()
	<-hooked
	if !errors.Is(subErr, context.Canceled) {
		t.Fatalf("Subscribe: %v; want its ctx's cancellation", subErr)
	}
	waitFor(t, "the dial to end", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.dialing == nil
	})
	h.mu.Lock()
	c, subs := h.conn, len(h.subs)
	h.mu.Unlock()
	if c != nil || subs != 0 {
		t.Fatalf("after the dial the hub has %d subscribers and a connection %v; want neither", subs, c != nil)
	}
}

// The reconnect loop ends under the lock that sees the new connection
// live: a loss right after that starts the loop again. It used to end
// after letting go of the lock, and a loss in between found the loop still
// marked running, started none, and the subscriber stayed without a
// connection for good.
func TestPubSubLossAsReconnectLoopEnds(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	subscriber(t, m, "ch")
	h := m.single.hub
	var once sync.Once
	fired := make(chan struct{})
	hook := func(ok bool) {
		if !ok {
			return
		}
		once.Do(func() {
			defer close(fired)
			h.mu.Lock()
			c := h.conn
			h.mu.Unlock()
			if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
				t.Error(err)
			}
			waitFor(t, "the new connection to be lost", func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return h.conn != c && c.isDead()
			})
		})
	}
	afterReconnectCheck.Store(&hook)
	t.Cleanup(func() { afterReconnectCheck.Store(nil) })
	if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	<-fired // the connection the loop saw live is lost too
	waitFor(t, "the subscription to be renewed after the second loss", func() bool {
		h.mu.Lock()
		live, retrying, dialing := h.conn != nil && !h.conn.isDead(), h.retrying, h.dialing != nil
		h.mu.Unlock()
		if !live && !retrying && !dialing {
			t.Fatal("no connection, no reconnect loop, no dial: the subscriber is left without a connection")
		}
		return live && numsub(t, m, "ch") == "1"
	})
}

// A SUBSCRIBE in flight on a connection that is lost fails with that
// connection; a reconnect does not renew it (only confirmed entries are
// renewed). It used to be renewed, and when the old connection's failure
// landed after the new one was installed (its reader preempted between
// telling the hub and failing its waiters), the name stayed subscribed on
// the server with no entry in the hub: PUBLISH counted it, its messages
// were dropped. Holding the old connection's lock stands for the reader
// preempted there; a fake server, to hold the SUBSCRIBE's reply back.
func TestPubSubInFlightSubscribeNotRenewed(t *testing.T) {
	fs, m := fakePubSubMux(t)
	ctx := testCtx(t)
	keep := m.PubSub(PubSubOptions{})
	defer keep.Close()
	done := make(chan error, 1)
	go func() { done <- keep.Subscribe(ctx, "keep") }()
	fc1 := fs.accept()
	fc1.expect("SUBSCRIBE", "keep")
	fc1.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("keep"), resp.Int(1)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h := m.single.hub
	h.mu.Lock()
	c1 := h.conn
	h.mu.Unlock()

	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	go func() { done <- ps.Subscribe(ctx, "x") }()
	fc1.expect("SUBSCRIBE", "x") // not answered: in flight

	c1.mu.Lock() // its reader stops between lost(c1) and fail(c1)
	_ = fc1.nc.Close()
	fc2 := fs.accept()
	renew := fc2.read()
	if strings.Join(renew, " ") != "SUBSCRIBE keep" {
		t.Errorf("renewal %q; want SUBSCRIBE keep only (x is in flight on the lost connection)", renew)
	}
	for _, ch := range renew[1:] {
		fc2.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk(ch), resp.Int(1)))
	}
	waitFor(t, "the new connection to be installed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.conn != nil && h.conn != c1
	})
	c1.mu.Unlock()
	if err := <-done; !errors.Is(err, ErrConnection) {
		t.Fatalf("Subscribe x: %v; want the lost connection's error", err)
	}
}

// A renewal the server refuses for one name (its permission revoked: Redis
// 7 then closes the pub/sub connection) drops that name, and only it: its
// subscriber forgets it and is told of the reconnect, the others are
// renewed and get their messages. The refusal used to fail every dial: the
// hub never reconnected, and every later Subscribe failed with it.
func TestPubSubRenewalRefusedForOneName(t *testing.T) {
	srv := startServer(t, redisserver.Options{
		Users: []redisserver.User{{Name: "u", Password: "pw", Rules: []string{"~*", "&a", "&b", "&c", "+@all"}}},
	})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: "u", Password: "pw"})
	ctx := testCtx(t)
	pa, pb := m.PubSub(PubSubOptions{}), m.PubSub(PubSubOptions{})
	defer pa.Close()
	defer pb.Close()
	if err := pa.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := pb.Subscribe(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(ctx, "ACL", "SETUSER", "u", "resetchannels", "&a", "&c"); err != nil {
		t.Fatal(err)
	}
	for _, ps := range []*PubSub{pa, pb} {
		if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindReconnected {
			t.Fatalf("Receive after b was revoked: %+v, %v; want KindReconnected", msg, err)
		}
	}
	if got := numsub(t, m, "a", "b"); got != "1 0" {
		t.Fatalf("PUBSUB NUMSUB a b = %s; want 1 0", got)
	}
	if ch, _, _ := pb.Subscriptions(); len(ch) != 0 {
		t.Fatalf("the subscriber of b lists %v; want nothing", ch)
	}
	if ch, _, _ := pa.Subscriptions(); !slices.Equal(ch, []string{"a"}) {
		t.Fatalf("the subscriber of a lists %v; want [a]", ch)
	}
	if err := pb.Subscribe(ctx, "c"); err != nil {
		t.Fatalf("Subscribe c after it: %v", err)
	}
	publishReceived(t, m, pa, "a")
}

// A loss whose reconnect ends with no subscriber left (all closed meanwhile)
// is not told to the next, new subscriber, who missed nothing.
func TestPubSubMissedNotToldToNewSubscriber(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	old := subscriber(t, m, "ch")
	closeDuringReconnect(t, srv, m, old)
	ps := subscriber(t, m, "new")
	if _, err := m.Database(0).Do(ctx, "PUBLISH", "new", "hi"); err != nil {
		t.Fatal(err)
	}
	if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindMessage {
		t.Fatalf("a new subscriber's first message: %+v, %v; want the message (it missed nothing)", msg, err)
	}
}

// Subscriptions lists what the subscriber holds, by kind, sorted; nothing
// once closed.
func TestPubSubSubscriptions(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	ps := subscriber(t, m, "c", "a", "b")
	if err := ps.PSubscribe(ctx, "p*"); err != nil {
		t.Fatal(err)
	}
	if err := ps.SSubscribe(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Unsubscribe(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	ch, pat, shard := ps.Subscriptions()
	if got := fmt.Sprint(ch, pat, shard); got != "[a c] [p*] [s]" {
		t.Fatalf("Subscriptions = %s; want [a c] [p*] [s]", got)
	}
	_ = ps.Close()
	if ch, pat, shard := ps.Subscriptions(); len(ch)+len(pat)+len(shard) != 0 {
		t.Fatalf("after Close: %v %v %v; want none", ch, pat, shard)
	}
}

// A renewal answered with a passing error (BUSY: a script runs while the
// hub reconnects) fails that dial, which is tried again: nothing is
// dropped. Only a refusal of the names themselves (NOPERM; a slot error
// for shard channels) drops them. BUSY used to be taken for a refusal of
// every name: the subscriber lost all its subscriptions for good. (Found
// by a review.)
func TestPubSubBusyDuringRenewalDropsNothing(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	ps := subscriber(t, m, "ch")
	if _, err := srv.Do(ctx, "CONFIG", "SET", "busy-reply-threshold", "20"); err != nil {
		t.Fatal(err)
	}
	script := make(chan error, 1)
	go func() {
		// Busy for 2 s by the server's clock.
		_, err := srv.Do(ctx, "EVAL", `local t=redis.call('TIME') while true do local n=redis.call('TIME') if tonumber(n[1])-tonumber(t[1])>=2 then break end end return 1`, "0")
		script <- err
	}()
	waitFor(t, "the server to be busy", func() bool {
		_, err := srv.Do(ctx, "PING")
		return err != nil && strings.Contains(err.Error(), "BUSY")
	})
	h := m.single.hub
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	_ = c.rc.nc.Close() // the network drops the pub/sub connection
	if err := <-script; err != nil {
		t.Fatal(err)
	}
	if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindReconnected {
		t.Fatalf("Receive after the reconnect: %+v, %v; want KindReconnected", msg, err)
	}
	ch, _, _ := ps.Subscriptions()
	if got := numsub(t, m, "ch"); got != "1" || !slices.Equal(ch, []string{"ch"}) {
		t.Fatalf("after a reconnect that met a busy script: NUMSUB ch = %s, Subscriptions %v; want 1, [ch]", got, ch)
	}
}

// closeDuringReconnect kills the pub/sub connections of srv and closes ps
// while m's single-server hub reconnects (once the new connection has
// renewed the subscriptions, before it is installed), and waits until the
// reconnect has ended.
func closeDuringReconnect(t *testing.T, srv *redisserver.Server, m *Mux, ps *PubSub) {
	t.Helper()
	var once sync.Once
	setAfterRenew(t, func(*pubsubHub, *psConn) { once.Do(func() { _ = ps.Close() }) })
	if _, err := srv.Do(testCtx(t), "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	h := m.single.hub
	waitFor(t, "the reconnect to end", func() bool {
		ps.mu.Lock()
		closed := ps.closed
		ps.mu.Unlock()
		h.mu.Lock()
		defer h.mu.Unlock()
		return closed && h.dialing == nil && !h.retrying
	})
}

// publishReceived publishes "hi" to channel, which must reach exactly one
// subscriber, and checks that ps receives it next.
func publishReceived(t *testing.T, m *Mux, ps *PubSub, channel string) {
	t.Helper()
	ctx := testCtx(t)
	if n, err := Int64(m.Database(0).Do(ctx, "PUBLISH", channel, "hi")); err != nil || n != 1 {
		t.Fatalf("PUBLISH %s reached %d, %v; want 1", channel, n, err)
	}
	if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindMessage || msg.Channel != channel || msg.Payload != "hi" {
		t.Fatalf("Receive: %+v, %v; want the message hi on %s", msg, err, channel)
	}
}

// nextOfKind receives until a message of kind comes (skipping others, such
// as KindReconnected), within 10 seconds.
func nextOfKind(t *testing.T, ps *PubSub, kind MessageKind) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			t.Fatalf("no %v message came: %v", kind, err)
		}
		if msg.Kind == kind {
			return msg
		}
	}
}

// A pub/sub command waiting for its confirmation on a server that stopped
// answering fails after SocketTimeout, as a command does, whatever its
// ctx; once the server answers again the hub reconnects and renews the
// subscriptions. A Subscribe with a ctx without a deadline used to wait
// for ever: a paused server's kernel keeps the connection up.
func TestPubSubSocketTimeout(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, SocketTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	ps := subscriber(t, m, "a")
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			_ = srv.Resume()
		}
	}()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- ps.Subscribe(context.Background(), "b") }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrSocketTimeout) || !errors.Is(err, ErrConnection) {
			t.Fatalf("Subscribe b on a paused server: %v; want ErrSocketTimeout, ErrConnection", err)
		}
		t.Logf("Subscribe b failed after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe b still waits 10 s after the server stopped answering; want ErrSocketTimeout within about 3 x 150 ms")
	}
	if ch, _, _ := ps.Subscriptions(); !slices.Equal(ch, []string{"a"}) {
		t.Fatalf("after the failed Subscribe the subscriber lists %v; want [a]", ch)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	paused = false
	nextOfKind(t, ps, KindReconnected)
	if err := ps.Subscribe(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	publishReceived(t, m, ps, "a")
	publishReceived(t, m, ps, "b")
}

// A subscriber that only pings keeps the pub/sub connection open for
// itself: its Close closes it when no other subscriber is left, and
// another subscriber's Close does not fail its Ping in flight. The
// connection used to stay open for no one after the Close, and the last
// (other) subscriber's Close failed the Ping with ErrClosed.
func TestPubSubPingerIsASubscriber(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	h := m.single.hub
	conn := func() *psConn {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.conn
	}

	pinger := m.PubSub(PubSubOptions{})
	if err := pinger.Ping(ctx, ""); err != nil {
		t.Fatal(err)
	}
	c := conn()
	if c == nil {
		t.Fatal("no pub/sub connection after a Ping")
	}
	if err := pinger.Close(); err != nil {
		t.Fatal(err)
	}
	if conn() != nil || !c.isDead() {
		t.Fatal("the pub/sub connection is still open after its only user, a pinger, closed")
	}

	sub := subscriber(t, m, "a")
	pinger = m.PubSub(PubSubOptions{})
	defer pinger.Close()
	c = conn()
	if err := srv.Pause(); err != nil { // the PING stays in flight
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			_ = srv.Resume()
		}
	}()
	ping := make(chan error, 1)
	go func() { ping <- pinger.Ping(ctx, "hello") }()
	waitFor(t, "the PING to be sent", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.waiters) == 1
	})
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	paused = false
	if err := <-ping; err != nil {
		t.Fatalf("Ping in flight when the other subscriber closed: %v; want its answer", err)
	}
	if conn() != c || c.isDead() {
		t.Fatal("the pinger's connection was closed by the other subscriber's Close")
	}
}

// A hub that holds no subscription does not reconnect when its connection
// is lost: there is nothing to renew, and the next Subscribe or Ping dials.
// It used to reconnect for a subscriber that had only pinged (or had
// unsubscribed everything), and tell it it may have missed messages.
func TestPubSubNoReconnectWithoutSubscriptions(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	ps := subscriber(t, m, "a")
	if err := ps.Unsubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	h := m.single.hub
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	c.fail(errors.New("test: connection lost")) // the reader sees the closed socket and tells the hub
	waitFor(t, "the hub to see the loss", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.conn != c
	})
	h.mu.Lock()
	retrying, dialing, conn := h.retrying, h.dialing != nil, h.conn
	h.mu.Unlock()
	if retrying || dialing || conn != nil {
		t.Fatalf("after losing a connection with no subscription: reconnect loop %v, dial %v, connection %v; want none", retrying, dialing, conn != nil)
	}
	if err := ps.Subscribe(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	publishReceived(t, m, ps, "b") // next: no KindReconnected before it
}

// Once a pub/sub connection has failed, what its reader had already
// buffered is not handled: here an UNSUBSCRIBE answered BUSY fails it, and
// a message that came in the same read is not delivered; the subscriber
// hears of the gap (KindReconnected) and then gets the new connection's
// messages. It used to get the dead connection's message, which could
// come after the new connection's. A fake server, to put both in one read.
func TestPubSubNothingHandledAfterFailure(t *testing.T) {
	fs, m := fakePubSubMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(ctx, "a", "x") }()
	fc := fs.accept()
	fc.expect("SUBSCRIBE", "a", "x")
	fc.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("a"), resp.Int(1)), resp.Push(resp.Bulk("subscribe"), resp.Bulk("x"), resp.Int(2)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() { done <- ps.Unsubscribe(ctx, "x") }()
	fc.expect("UNSUBSCRIBE", "x")
	fc.reply(resp.ErrorValue("BUSY Redis is busy running a script."), resp.Push(resp.Bulk("message"), resp.Bulk("a"), resp.Bulk("stale")))
	if err := <-done; err == nil || !strings.Contains(err.Error(), "BUSY") {
		t.Fatalf("Unsubscribe x answered BUSY: %v; want BUSY", err)
	}
	fc2 := fs.accept()
	fc2.expect("SUBSCRIBE", "a")
	fc2.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("a"), resp.Int(1)), resp.Push(resp.Bulk("message"), resp.Bulk("a"), resp.Bulk("fresh")))
	if msg := nextOfKind(t, ps, KindMessage); msg.Payload != "fresh" {
		t.Fatalf("first message after the failure: %q; want the new connection's (the dead one's was read after its failure)", msg.Payload)
	}
	// The message may come before the dial installs the connection; done
	// before Close, which would otherwise unsubscribe on the dial's
	// connection a fake that no longer reads.
	h := m.single.hub
	waitFor(t, "the new connection to be installed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.conn != nil && h.dialing == nil
	})
}

// A subscriber closed while its own Subscribe waits for the hub's dial:
// the dial keeps its connection (the subscriber leaves the hub's
// subscribers only in the turn, which the Subscribe holds), the SUBSCRIBE
// goes out on it, and the connection is closed once the Close's part in
// the turn has run. (A first version of the Close that does not wait for
// the turn took the subscriber out at once: the dial then discarded its
// connection for want of subscribers and the Subscribe dialled again, at
// once, for as long as its ctx let it. Found by a review.) A fake server,
// to hold the dial.
func TestPubSubCloseDuringOwnSubscribesDial(t *testing.T) {
	fs, m := fakePubSubMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(ctx, "x") }()
	waitGoroutine(t, "waits for the dial in pubsubHub.change", "(*pubsubHub).connection(", "(*pubsubHub).change(")
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	fc := fs.accept() // the dial's handshake
	fc.expect("SUBSCRIBE", "x")
	// The Close's part in the turn may have closed the connection already
	// (the Subscribe lets go of the turn once its SUBSCRIBE is written).
	_, _ = fc.nc.Write(resp.AppendValue(nil, resp.Push(resp.Bulk("subscribe"), resp.Bulk("x"), resp.Int(1))))
	if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe x during its subscriber's Close: %v; want nil or ErrClosed", err)
	}
	h := m.single.hub
	waitFor(t, "the connection to be closed with its last subscriber", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.conn == nil && h.dialing == nil && len(h.subs) == 0
	})
}

// When the hub comes to hold no subscription while it is reconnecting
// (the server is down and the subscriber unsubscribes everything), the
// reconnect loop stops, and the subscriber is not told of a loss when it
// next subscribes: it missed nothing. The loop used to dial for as long
// as the server was down, and the next connection told it. (Found by a
// review.)
func TestPubSubReconnectStopsWhenNothingHeld(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, ConnectTimeout: 3 * time.Second, ConnectRetry: 1})
	ctx := testCtx(t)
	ps := subscriber(t, m, "a")
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	h := m.single.hub
	waitFor(t, "the reconnect loop to start", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.retrying
	})
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_ = ps.Unsubscribe(short, "a") // the hub drops a whatever the server says: it is not there
	if ch, _, _ := ps.Subscriptions(); len(ch) != 0 {
		t.Fatalf("after Unsubscribe a the subscriber lists %v", ch)
	}
	waitFor(t, "the reconnect loop to stop", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.retrying
	})
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ps.Subscribe(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	publishReceived(t, m, ps, "b") // next: no KindReconnected before it
}

// A subscriber that pinged stays one of the hub's when a later Subscribe
// of it fails (refused): the connection it alone keeps stays open. The
// undoing of a failed Subscribe used to take a subscriber holding nothing
// out of the hub, and close the connection. (Found by a review.)
func TestPubSubPingerKeptAfterFailedSubscribe(t *testing.T) {
	srv := startServer(t, redisserver.Options{
		Users: []redisserver.User{{Name: "u", Password: "pw", Rules: []string{"~*", "&a", "+@all"}}},
	})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: "u", Password: "pw"})
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.Ping(ctx, ""); err != nil {
		t.Fatal(err)
	}
	h := m.single.hub
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	if err := ps.Subscribe(ctx, "forbidden"); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("Subscribe forbidden: %v; want NOPERM", err)
	}
	h.mu.Lock()
	kept, member := h.conn == c && !c.isDead(), h.subs[ps]
	h.mu.Unlock()
	if !kept || !member {
		t.Fatalf("after a refused Subscribe: connection kept %v, pinger still a subscriber %v; want both", kept, member)
	}
	if err := ps.Ping(ctx, "again"); err != nil {
		t.Fatal(err)
	}
}

// A reconnect tells of the loss only the subscribers of what it renewed:
// one that only pinged missed nothing. It used to tell every subscriber of
// the hub. (Found by a review.)
func TestPubSubReconnectTellsOnlyHolders(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	holder, pinger := m.PubSub(PubSubOptions{}), m.PubSub(PubSubOptions{})
	defer holder.Close()
	defer pinger.Close()
	if err := holder.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := pinger.Ping(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	nextOfKind(t, holder, KindReconnected)
	h := m.single.hub
	h.mu.Lock() // the dial tells everyone under the lock: all told by now
	h.mu.Unlock()
	if pinger.reconnected.Load() || len(pinger.msgs) > 0 {
		t.Fatal("the subscriber that only pinged was told of the loss")
	}
	publishReceived(t, m, holder, "a")
}

// subscriber returns a subscriber of m that has subscribed channels (with
// ctx testCtx(t)); it is closed at the end of the test.
func subscriber(t *testing.T, m *Mux, channels ...string) *PubSub {
	t.Helper()
	ps := m.PubSub(PubSubOptions{})
	t.Cleanup(func() { _ = ps.Close() })
	if err := ps.Subscribe(testCtx(t), channels...); err != nil {
		t.Fatalf("Subscribe %v: %v", channels, err)
	}
	return ps
}

// fakePubSubMux returns a fake server and a Mux that dials it, for a
// pub/sub test (the fake does not expect COMMAND: a pub/sub connection
// does not ask it); the Mux is closed at the end of the test.
func fakePubSubMux(t *testing.T) (*fakeServer, *Mux) {
	t.Helper()
	fs, cfg := newFake(t)
	m := newMux(t, cfg)
	fs.commands = true
	return fs, m
}
