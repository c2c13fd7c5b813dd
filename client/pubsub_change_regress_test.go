package client

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// Regression tests of subscription changes: turn-taking between
// concurrent Subscribe and Unsubscribe calls, their contexts, refusals,
// and Close while they wait.

// waitBlockedInChange polls the goroutine stacks until one is waiting for
// its turn inside pubsubHub.change.
func waitBlockedInChange(t *testing.T) {
	t.Helper()
	waitGoroutine(t, "waits for its turn in pubsubHub.change", "(*pubsubHub).lock(", "(*pubsubHub).change(")
}

// waitGoroutine polls the goroutine stacks, for up to 10 seconds, until
// one's stack holds every one of frames.
func waitGoroutine(t *testing.T, what string, frames ...string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if !slices.ContainsFunc(frames, func(f string) bool { return !strings.Contains(g, f) }) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine %s", what)
		}
		<-tick.C
	}
}

// A subscription change that gets the hub's lock only after Close has run
// must not add the closed subscriber to the hub: nothing would ever remove
// it again. The test holds the hub's turn while Subscribe waits for it, and meanwhile does what Close does (its remove of the subscriber from
// the hub finds nothing yet: with another subscriber keeping the connection
// open it is a no-op).
func TestPubSubChangeAfterClose(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	subscriber(t, m, "keep") // keeps the connection open
	h := m.single.hub
	ps := m.PubSub(PubSubOptions{})

	release := holdTurn(t, h)
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(ctx, "ch") }()
	waitBlockedInChange(t)
	ps.mu.Lock() // Close, but for h.remove(ps)
	ps.closed = true
	close(ps.done)
	ps.hubs = map[*pubsubHub]bool{}
	ps.mu.Unlock()
	release()

	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe of a subscriber closed meanwhile: %v, want ErrClosed", err)
	}
	h.mu.Lock()
	held, entry := h.subs[ps], h.names[kindChannel]["ch"]
	h.mu.Unlock()
	if held || entry != nil {
		t.Errorf("the hub holds the closed subscriber: in subs %v, entry %v", held, entry)
	}
	if n, err := Int64(m.Database(0).Do(ctx, "PUBLISH", "ch", "x")); err != nil || n != 0 {
		t.Errorf("PUBLISH ch reached %d clients (%v), want 0", n, err)
	}
}

// A subscription change whose ctx ends while it waits for its turn (the
// change before it waits for a dial to a server that does not answer)
// returns then, with ctx's error, having changed nothing: Subscribe leaves
// the name unsubscribed, Unsubscribe leaves it subscribed, and both can be
// tried again. They used to wait for the turn whatever their ctx.
func TestPubSubChangeHonoursCtxWaitingForTurn(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	ps := subscriber(t, m, "held")
	h := m.single.hub
	release := holdTurn(t, h) // the change before: takes its time
	for _, c := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"Subscribe", func(ctx context.Context) error { return ps.Subscribe(ctx, "new") }},
		{"Unsubscribe", func(ctx context.Context) error { return ps.Unsubscribe(ctx, "held") }},
	} {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := c.do(short)
		cancel()
		if err != context.DeadlineExceeded { // the bare error, as ctx.Err() is
			t.Fatalf("%s waiting for the turn: %v (%T); want its ctx's deadline", c.name, err, err)
		}
	}
	if err := func() error { // Ping too
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		return ps.Ping(short, "")
	}(); err != context.DeadlineExceeded {
		t.Fatalf("Ping waiting for the turn: %v (%T); want its ctx's deadline", err, err)
	}
	release()
	if !ps.wants(kindChannel, "held") || ps.wants(kindChannel, "new") {
		t.Fatalf("after the timed-out changes %v; want held and not new", ps)
	}
	if err := ps.Unsubscribe(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Subscribe(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if got := numsub(t, m, "held", "new"); got != "0 1" {
		t.Fatalf("PUBSUB NUMSUB held new = %v; want 0 1", got)
	}
}

// A subscriber whose every subscription on a hub failed is no longer one
// of the hub's: with no other subscriber the connection is closed, not
// kept (and re-dialled after every loss) for nothing.
func TestPubSubFailedSubscribeReleasesConnection(t *testing.T) {
	srv := startServer(t, redisserver.Options{
		Users: []redisserver.User{{Name: "narrow", Password: "pw", Rules: []string{"~*", "&allowed", "+@all"}}},
	})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: "narrow", Password: "pw"})
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.Subscribe(ctx, "denied"); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("Subscribe to a channel the user may not: %v; want NOPERM", err)
	}
	h := m.single.hub
	h.mu.Lock()
	held, c := h.subs[ps], h.conn
	h.mu.Unlock()
	if held || c != nil {
		t.Fatalf("after the failed Subscribe the hub holds the subscriber %v, connection %v; want neither", held, c != nil)
	}
	if err := ps.Subscribe(ctx, "allowed"); err != nil {
		t.Fatalf("Subscribe after it: %v", err)
	}
	publishReceived(t, m, ps, "allowed")
}

// An Unsubscribe whose ctx ends while the server has not confirmed it yet
// returns ctx's error, but the subscriber no longer holds the channel (no
// message of it reaches the subscriber from then on): with Confirmations,
// it is told so.
func TestPubSubUnsubscribeTimedOutConfirms(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{Confirmations: true})
	defer ps.Close()
	if err := ps.Subscribe(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindSubscribe {
		t.Fatalf("Receive: %+v, %v; want the subscribe confirmation", msg, err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := ps.Unsubscribe(short, "ch")
	cancel()
	if rerr := srv.Resume(); rerr != nil {
		t.Fatal(rerr)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Unsubscribe with the server paused: %v; want its deadline", err)
	}
	if ps.wants(kindChannel, "ch") {
		t.Fatal("the subscriber still holds the channel")
	}
	if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindUnsubscribe || msg.Channel != "ch" {
		t.Fatalf("Receive: %+v, %v; want the unsubscribe confirmation of ch", msg, err)
	}
}

// A Subscribe that fails (here its ctx ends before the server confirms)
// returns when its ctx says, even when the hub's turn, which undoing its
// bookkeeping needs, is held by another change (one waiting for a dial,
// say): the rest of the undoing is done in the background. It used to
// wait for the turn whatever its ctx.
func TestPubSubFailedSubscribeHonoursCtx(t *testing.T) {
	fs, m := fakePubSubMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(short, "x") }()
	fc := fs.accept()
	fc.expect("SUBSCRIBE", "x") // never answered
	h := m.single.hub
	h.turn <- struct{}{} // taken as soon as the Subscribe's change lets go of it
	defer h.unlock()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Subscribe: %v; want its ctx's deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe with a 100ms ctx has not returned after 10s: undoing it waits for the hub's turn")
	}
	if ps.wants(kindChannel, "x") {
		t.Fatal("the failed Subscribe left x in the subscriber's names")
	}
}

// An UNSUBSCRIBE the server answers with an error (BUSY: a script runs)
// may have left the channel subscribed, while the hub has dropped it: the
// connection is failed, and the reconnect renews only what the hub holds
// (and tells the subscribers). The server used to keep the channel
// subscribed, unknown to the hub, until the connection was next lost:
// PUBLISH counted it, its messages were read and thrown away. (Found by a
// review.)
func TestPubSubUnsubscribeAnsweredBusy(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	keep := m.PubSub(PubSubOptions{})
	defer keep.Close()
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := keep.Subscribe(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Subscribe(ctx, "x"); err != nil {
		t.Fatal(err)
	}
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
	if err := ps.Unsubscribe(ctx, "x"); err == nil || !strings.Contains(err.Error(), "BUSY") {
		t.Fatalf("Unsubscribe x during the script: %v; want BUSY", err)
	}
	if err := <-script; err != nil {
		t.Fatal(err)
	}
	if msg, err := keep.Receive(ctx); err != nil || msg.Kind != KindReconnected {
		t.Fatalf("Receive: %+v, %v; want KindReconnected", msg, err)
	}
	if got := numsub(t, m, "keep", "x"); got != "1 0" {
		t.Fatalf("PUBSUB NUMSUB keep x = %s after the reconnect; want 1 0", got)
	}
	if ch, _, _ := ps.Subscriptions(); len(ch) != 0 {
		t.Fatalf("the subscriber lists %v; want nothing", ch)
	}
}

// An unsubscribe answered with an error fails the connection; the other
// commands waiting on it get the connection's failure, not the server's
// answer to that unsubscribe as if it were their own (a NOPERM there made
// a re-homing take its own channel for refused, and drop it for good).
// (Found by a review.) A fake server: it answers the SUNSUBSCRIBE NOPERM.
func TestPubSubUnsubscribeRefusalNotPassedToOthers(t *testing.T) {
	ctx := testCtx(t)
	ps, _, fc := fakeShardSubscriber(t, "a")
	unsub, sub := make(chan error, 1), make(chan error, 1)
	go func() { unsub <- ps.SUnsubscribe(ctx, "a") }()
	fc.expect("SUNSUBSCRIBE", "a")
	fc.expect("PING")
	go func() { sub <- ps.SSubscribe(ctx, "b") }()
	fc.expect("SSUBSCRIBE", "b")
	fc.reply(resp.ErrorValue("NOPERM this user has no permissions to run the 'sunsubscribe' command"), resp.SimpleString("PONG"))
	if err := <-unsub; resp.ErrorPrefix(err) != "NOPERM" {
		t.Fatalf("SUnsubscribe: %v; want its NOPERM", err)
	}
	err := <-sub
	if !errors.Is(err, ErrConnection) || resp.ErrorPrefix(err) != "" {
		t.Fatalf("SSubscribe b on the failed connection: %v (prefix %q); want the connection's failure, no server answer of its own", err, resp.ErrorPrefix(err))
	}
}

// Close returns without waiting for the hub's turn, which a change may
// hold for as long as a dial takes (here the test holds it); what needs
// the turn (unsubscribing its channels) is done once the turn is free. It
// used to wait for the turn: up to (ConnectRetry+1) x ConnectTimeout.
func TestPubSubCloseDoesNotWaitForTurn(t *testing.T) {
	_, m := serverMux(t)
	keep := subscriber(t, m, "keep")
	ps := subscriber(t, m, "a")
	h := m.single.hub
	release := holdTurn(t, h)
	closed := make(chan error, 1)
	go func() { closed <- ps.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits for the hub's turn after 10 s")
	}
	release()
	waitFor(t, "a to be unsubscribed once the turn is free", func() bool { return numsub(t, m, "a", "keep") == "0 1" })
	publishReceived(t, m, keep, "keep")
}

// Two calls subscribing one channel at once: the second returns only once
// the first's SUBSCRIBE is confirmed, as Subscribe promises (messages
// published after it returns reach the subscriber). It used to return at
// once, the name being recorded already. A fake server, to hold the
// confirmation back.
func TestPubSubConcurrentSubscribeOfOneName(t *testing.T) {
	fs, m := fakePubSubMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- ps.Subscribe(ctx, "x") }()
	fc := fs.accept()
	fc.expect("SUBSCRIBE", "x") // not answered yet
	go func() { second <- ps.Subscribe(ctx, "x") }()
	waitGoroutine(t, "waits for another call's change of x (has the second Subscribe returned at once?)", "(*PubSub).awaitChanges(")
	select {
	case err := <-second:
		t.Fatalf("the second Subscribe of x returned %v before the server confirmed x", err)
	default:
	}
	fc.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("x"), resp.Int(1)), resp.Push(resp.Bulk("message"), resp.Bulk("x"), resp.Bulk("hi")))
	for _, done := range []chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if msg := nextOfKind(t, ps, KindMessage); msg.Channel != "x" || msg.Payload != "hi" {
		t.Fatalf("message %+v; want hi on x", msg)
	}
}

// When the first of two calls subscribing one channel fails (its ctx ends
// on a paused server), the second, which waited for it, subscribes the
// channel itself.
func TestPubSubConcurrentSubscribeAfterFailure(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.Subscribe(ctx, "other"); err != nil { // the connection is up
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			_ = srv.Resume()
		}
	}()
	short, cancel := context.WithCancel(ctx)
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- ps.Subscribe(short, "x") }()
	waitGoroutine(t, "waits for the confirmation of x", "(*pubsubHub).change(")
	go func() { second <- ps.Subscribe(ctx, "x") }()
	waitGoroutine(t, "waits for another call's change of x (has the second Subscribe returned at once?)", "(*PubSub).awaitChanges(")
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first Subscribe of x: %v; want its ctx's end", err)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	paused = false
	if err := <-second; err != nil {
		t.Fatalf("the second Subscribe of x, after the first failed: %v", err)
	}
	if ch, _, _ := ps.Subscriptions(); !slices.Equal(ch, []string{"other", "x"}) {
		t.Fatalf("Subscriptions %v; want [other x]", ch)
	}
	publishReceived(t, m, ps, "x")
}

// holdTurn takes h's turn, as a change would, and returns the function
// that gives it back; it is given back at the end of the test if the test
// has not (a failed check must not leave it held: the subscribers' Close,
// and the Mux's, would wait for it for ever).
func holdTurn(t *testing.T, h *pubsubHub) (release func()) {
	h.turn <- struct{}{}
	var once sync.Once
	release = func() { once.Do(h.unlock) }
	t.Cleanup(release)
	return release
}

// Two calls unsubscribing one channel at once: the second returns only
// once the first's UNSUBSCRIBE is confirmed, as Unsubscribe promises. A
// fake server, to hold the confirmation back.
func TestPubSubConcurrentUnsubscribeOfOneName(t *testing.T) {
	fs, m := fakePubSubMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- ps.Subscribe(ctx, "x", "keep") }()
	fc := fs.accept()
	fc.expect("SUBSCRIBE", "x", "keep")
	fc.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("x"), resp.Int(1)), resp.Push(resp.Bulk("subscribe"), resp.Bulk("keep"), resp.Int(2)))
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	go func() { first <- ps.Unsubscribe(ctx, "x") }()
	fc.expect("UNSUBSCRIBE", "x") // not answered yet
	go func() { second <- ps.Unsubscribe(ctx, "x") }()
	waitGoroutine(t, "waits for another call's change of x (has the second Unsubscribe returned at once?)", "(*PubSub).awaitChanges(")
	select {
	case err := <-second:
		t.Fatalf("the second Unsubscribe of x returned %v before the server confirmed it", err)
	default:
	}
	fc.reply(resp.Push(resp.Bulk("unsubscribe"), resp.Bulk("x"), resp.Int(1)))
	for _, done := range []chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if ch, _, _ := ps.Subscriptions(); !slices.Equal(ch, []string{"keep"}) {
		t.Fatalf("Subscriptions %v; want [keep]", ch)
	}
}
