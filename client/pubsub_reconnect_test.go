package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/faultinject"
	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// Tests of how pub/sub notices and recovers from lost connections: idle
// checks, re-homing after MOVED, what the router is told, the errors and
// the order of what subscribers see.

// movingRouter is sharded, one slot (7) for every key, served by "a:6379"
// until a MOVED says otherwise (as the cluster router does); it records
// the moves it is told of.
type movingRouter struct {
	m     *Mux
	mu    sync.Mutex
	owner string   // guarded by mu
	moved []string // guarded by mu
}

func (r *movingRouter) Sharded() bool      { return true }
func (r *movingRouter) KeySlot(string) int { return 7 }
func (r *movingRouter) Node(context.Context, int, bool) (*Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.Node(r.owner), nil
}
func (r *movingRouter) Moved(_ int, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.moved = append(r.moved, addr)
	r.owner = addr
}
func (r *movingRouter) Trouble(*Node, error) {}
func (r *movingRouter) Close()               {}

// A shard channel re-homed after its node's connection was lost, answered
// MOVED by that node (it lost the slot meanwhile, and the router has not
// seen it yet), follows the MOVED as SSubscribe does: the router is told
// and the channel is subscribed on the new owner. The re-homing used to
// take MOVED for a refusal and try the stale node again, with backoff, for
// as long as the router did not refresh on its own. Fake servers: a real
// one cannot be made to lose a slot between two commands.
func TestPubSubRehomeFollowsMoved(t *testing.T) {
	servers, cfg := newFakes(t, "a:6379", "b:6379")
	var router *movingRouter
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) {
		router = &movingRouter{m: m, owner: "a:6379"}
		return router, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	done := make(chan error, 1)
	go func() { done <- ps.SSubscribe(ctx, "x") }()
	a1 := servers["a:6379"].accept()
	a1.expect("SSUBSCRIBE", "x")
	a1.reply(resp.Push(resp.Bulk("ssubscribe"), resp.Bulk("x"), resp.Int(1)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = a1.nc.Close() // the node's pub/sub connection is lost: x is re-homed
	a2 := servers["a:6379"].accept()
	a2.expect("SSUBSCRIBE", "x")
	a2.reply(resp.ErrorValue("MOVED 7 b:6379"))
	b1 := servers["b:6379"].accept() // fails unless the MOVED is followed
	b1.expect("SSUBSCRIBE", "x")
	b1.reply(resp.Push(resp.Bulk("ssubscribe"), resp.Bulk("x"), resp.Int(1)))
	nextOfKind(t, ps, KindReconnected)
	router.mu.Lock()
	moved := slices.Clone(router.moved)
	router.mu.Unlock()
	if !slices.Equal(moved, []string{"b:6379"}) {
		t.Errorf("the router was told of moves to %v; want [b:6379]", moved)
	}
	if _, _, shard := ps.Subscriptions(); !slices.Equal(shard, []string{"x"}) {
		t.Errorf("after the re-homing the subscriber lists %v; want [x]", shard)
	}
	b1.reply(resp.Push(resp.Bulk("smessage"), resp.Bulk("x"), resp.Bulk("hi")))
	if msg := nextOfKind(t, ps, KindSMessage); msg.Channel != "x" || msg.Payload != "hi" {
		t.Fatalf("message %+v; want hi on x", msg)
	}
}

// An idle subscriber's connection that goes silent (a peer gone without a
// reset: here a proxy swallowing both directions) is noticed within about
// SocketTimeout, thanks to the PING the watchdog sends on a connection
// that has been quiet for SocketTimeout/2; the subscriber is then
// re-subscribed on a new connection and told (KindReconnected). It used to
// be checked only while a command waited for its answer: an idle
// subscriber never noticed, and lost every message. RESP2 and RESP3 (a
// subscribed RESP2 connection answers PING with a pong array).
func TestPubSubIdleConnectionChecked(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run(map[int]string{2: "RESP2", 3: "RESP3"}[proto], func(t *testing.T) {
			srv := startServer(t, redisserver.Options{})
			p, err := faultinject.New("127.0.0.1:0", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			m := newMux(t, Config{Endpoints: []string{p.Addr()}, Protocol: proto,
				SocketTimeout: time.Second, ConnectTimeout: time.Second})
			ctx := testCtx(t)
			ps := m.PubSub(PubSubOptions{})
			defer ps.Close()
			if err := ps.Subscribe(ctx, "x"); err != nil {
				t.Fatal(err)
			}
			h := m.single.hub
			h.mu.Lock()
			c1 := h.conn
			h.mu.Unlock()
			var toxics []string
			for _, dir := range []faultinject.Direction{faultinject.Upstream, faultinject.Downstream} {
				name := "blackhole " + dir.String()
				if err := p.AddToxic(name, dir, faultinject.Blackhole{}, 1); err != nil {
					t.Fatal(err)
				}
				toxics = append(toxics, name)
			}
			select {
			case <-c1.dead:
				t.Logf("the silent connection failed: %v", c1.failed)
			case <-time.After(10 * time.Second):
				t.Fatal("an idle pub/sub connection gone silent still stands after 10 x SocketTimeout")
			}
			if !errors.Is(c1.failed, ErrSocketTimeout) {
				t.Errorf("the silent connection failed with %v; want ErrSocketTimeout", c1.failed)
			}
			for _, name := range toxics {
				if err := p.RemoveToxic(name); err != nil {
					t.Fatal(err)
				}
			}
			nextOfKind(t, ps, KindReconnected)
			if n, err := Int64(srv.Do(ctx, "PUBLISH", "x", "after")); err != nil || n != 1 {
				t.Fatalf("PUBLISH after the reconnect reached %d, %v; want 1", n, err)
			}
			if msg := nextOfKind(t, ps, KindMessage); msg.Payload != "after" {
				t.Fatalf("message %+v; want after", msg)
			}
		})
	}
}

// fillThenReconnect subscribes a subscriber with a buffer of 2 to x, fills
// its buffer (old1, old2), and has the server kill its connection; it
// returns once the reconnect has been told to the subscriber.
func fillThenReconnect(t *testing.T) (*PubSub, *Mux) {
	t.Helper()
	srv, m := serverMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{BufferSize: 2})
	t.Cleanup(func() { _ = ps.Close() })
	if err := ps.Subscribe(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"old1", "old2"} {
		if _, err := m.Database(0).Do(ctx, "PUBLISH", "x", p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the buffer to fill", func() bool { return len(ps.msgs) == 2 })
	if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reconnect to be told", func() bool { return ps.dropped.Load() > 0 || ps.reconnected.Load() })
	return ps, m
}

// When a subscriber's buffer is full as its connection is lost, the
// KindReconnected message comes after the old connection's messages it
// still holds (the oldest gives way, reported as a loss), never before: a
// subscriber that re-reads its state when told must not then apply older
// messages on top of it. It used to jump the queue.
func TestPubSubReconnectedAfterBufferedMessages(t *testing.T) {
	ps, m := fillThenReconnect(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	var oe *OverflowError
	if _, err := ps.Receive(ctx); !errors.As(err, &oe) || oe.Dropped != 1 {
		t.Fatalf("first Receive: %v; want an OverflowError of 1 (old1 gave way)", err)
	}
	if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindMessage || msg.Payload != "old2" {
		t.Fatalf("second Receive: %+v, %v; want old2", msg, err)
	}
	if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindReconnected {
		t.Fatalf("third Receive: %+v, %v; want KindReconnected", msg, err)
	}
	publishReceived(t, m, ps, "x")
}

// The same through Channel: the loss, then old2, then KindReconnected.
func TestPubSubReconnectedAfterBufferedMessagesChannel(t *testing.T) {
	ps, _ := fillThenReconnect(t)
	ch := ps.Channel()
	var got []Message
	for len(got) < 3 {
		select {
		case msg := <-ch:
			got = append(got, msg)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %+v came", got)
		}
	}
	want := []Message{{Kind: KindOverflow, Dropped: 1}, {Kind: KindMessage, Channel: "x", Payload: "old2"}, {Kind: KindReconnected}}
	if !slices.Equal(got, want) {
		t.Fatalf("Channel gave %+v; want %+v", got, want)
	}
}

// A renewal that fails on a connection just dialled (lost as it renews
// the subscriptions) is told to the router, as is the loss of the
// installed connection before it: a cluster router refreshes its view of
// the nodes then. Neither used to be told. Exactly twice: the renewal's
// connection, not installed, is not told of again as lost. A fake server,
// to cut the connection in the middle of the renewal.
func TestPubSubFailedRenewalToldToRouter(t *testing.T) {
	fs, _, router, ps, fc1 := subscribedOnFake(t)
	_ = fc1.nc.Close() // lost: the reconnect loop dials again
	fc2 := fs.accept()
	fc2.expect("SUBSCRIBE", "x")
	_ = fc2.nc.Close() // the renewal fails
	fc3 := fs.accept() // the next attempt
	fc3.expect("SUBSCRIBE", "x")
	fc3.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("x"), resp.Int(1)))
	nextOfKind(t, ps, KindReconnected)
	router.mu.Lock()
	defer router.mu.Unlock()
	if len(router.troubles) != 2 {
		t.Fatalf("the router was told %v; want the lost connection and the failed renewal", router.troubles)
	}
	for _, e := range router.troubles {
		if !errors.Is(e, ErrConnection) {
			t.Errorf("trouble %v; want a connection error", e)
		}
	}
}

// One failed dial reaches the router once: the dial tells it, and a
// re-homing that waited for that dial does not tell it again (it used to,
// with the same error, doubling every failure a cluster router heard of).
func TestPubSubDialFailureToldOnce(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	addr := srv.Addr() // direct: the dials must be refused, not accepted by a proxy
	m, router := recorded(t, Config{Endpoints: []string{addr}, ConnectRetry: 1, ConnectTimeout: time.Second}, addr)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.SSubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "five troubles", func() bool {
		router.mu.Lock()
		defer router.mu.Unlock()
		return len(router.troubles) >= 5 // the loss, then a few dials of the re-homing
	})
	router.mu.Lock()
	defer router.mu.Unlock()
	for i, a := range router.troubles {
		for _, b := range router.troubles[i+1:] {
			if errors.Is(a, b) || errors.Is(b, a) {
				t.Fatalf("one failure was told twice: %v (all: %v)", a, router.troubles)
			}
		}
	}
}

// A renewal the server does not answer in time fails the dial with a
// connection error (ErrConnection, ErrSocketTimeout), not with the dial's
// own context's error: a Subscribe waiting for that dial, whose ctx has no
// deadline, used to get a bare context.DeadlineExceeded, which reads as its
// own ctx ending. A fake server, to leave the renewal unanswered.
func TestPubSubRenewalTimeoutIsConnectionError(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.ConnectTimeout = 500 * time.Millisecond
	cfg.ConnectRetry = 1
	m := newMux(t, cfg)
	fs.commands = true
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(context.Background(), "a") }()
	fc1 := fs.accept()
	fc1.expect("SUBSCRIBE", "a")
	fc1.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("a"), resp.Int(1)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = fc1.nc.Close()
	fc2 := fs.accept()
	fc2.expect("SUBSCRIBE", "a") // never answered
	ps2 := m.PubSub(PubSubOptions{})
	defer ps2.Close()
	err := ps2.Subscribe(context.Background(), "b") // waits for the dial in progress
	if !errors.Is(err, ErrConnection) || !errors.Is(err, ErrSocketTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe(context.Background()) waiting for an unanswered renewal: %v; want ErrConnection and ErrSocketTimeout, not context.DeadlineExceeded", err)
	}
	var te *toldError
	if errors.As(err, &te) {
		t.Fatalf("Subscribe returned the hub's internal %T", err)
	}
}

// On a sharded router, Ping of a subscriber holding only shard channels
// pings the node connections holding them, and dials no connection of
// channels and patterns for it; one holding a channel pings that
// connection as well. Ping used to check only the global hub's connection
// (dialling one just for it), never the ones the subscriptions live on.
func TestPubSubShardPingPingsItsNodes(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	addr := serverAddr(t, srv)
	m, err := NewWithRouter(Config{Endpoints: []string{addr}}, func(m *Mux) (Router, error) {
		return &oneNodeRouter{m: m, addr: addr}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.SSubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Ping(ctx, ""); err != nil {
		t.Fatal(err)
	}
	m.psMu.Lock()
	global := m.psHub
	m.psMu.Unlock()
	if global != nil {
		t.Fatal("Ping of a subscriber holding only a shard channel made the hub of channels and patterns")
	}
	nh := m.Node(addr).hub
	nh.mu.Lock()
	pinged := nh.pingers[ps]
	nh.mu.Unlock()
	if !pinged {
		t.Fatal("Ping of a subscriber holding only a shard channel did not ping its node's connection")
	}

	if err := ps.Subscribe(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Ping(ctx, ""); err != nil {
		t.Fatal(err)
	}
	gh := m.globalHub()
	gh.mu.Lock()
	pinged = gh.pingers[ps]
	gh.mu.Unlock()
	if !pinged {
		t.Fatal("Ping of a subscriber holding a channel did not ping the connection of channels")
	}
}

// Receive after Close returns ErrClosed, as documented, even with
// messages still buffered; it used to pick at random between them and
// ErrClosed.
func TestPubSubReceiveAfterCloseIsClosed(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	if err := ps.Subscribe(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := m.Database(0).Do(ctx, "PUBLISH", "x", "m"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the messages", func() bool { return len(ps.msgs) == 20 })
	_ = ps.Close()
	for i := range 20 {
		if msg, err := ps.Receive(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive %d after Close: %+v, %v; want ErrClosed", i, msg, err)
		}
	}
}

// A connection the client fails on purpose (an UNSUBSCRIBE the server
// refused, BUSY while a script runs: the names may still be subscribed
// there) is not the node's trouble: the router is not told (a cluster
// router would refresh its view for nothing).
func TestPubSubRefusedUnsubscribeNotToldToRouter(t *testing.T) {
	_, m, router, ps, fc := subscribedOnFake(t)
	ctx := testCtx(t)
	done := make(chan error, 1)
	h := m.globalHub()
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	go func() { done <- ps.Unsubscribe(ctx, "x") }()
	fc.expect("UNSUBSCRIBE", "x")
	fc.reply(resp.ErrorValue("BUSY Redis is busy running a script"))
	<-done
	select {
	case <-c.dead:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection whose UNSUBSCRIBE was refused still stands")
	}
	waitFor(t, "the hub to drop the connection", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.conn == nil
	})
	router.mu.Lock()
	defer router.mu.Unlock()
	if len(router.troubles) != 0 {
		t.Fatalf("the router was told %v; want nothing: the client failed the connection itself", router.troubles)
	}
}

// subscribedOnFake returns a Mux on a fake server whose router records
// what it is told, and a subscriber of x there, with the fake's side of its
// connection.
func subscribedOnFake(t *testing.T) (*fakeServer, *Mux, *recordingRouter, *PubSub, *fakeConn) {
	t.Helper()
	fs, m, router := fakeRecorded(t)
	fs.commands = true
	ps := m.PubSub(PubSubOptions{})
	t.Cleanup(func() { _ = ps.Close() })
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(testCtx(t), "x") }()
	fc := fs.accept()
	fc.expect("SUBSCRIBE", "x")
	fc.reply(resp.Push(resp.Bulk("subscribe"), resp.Bulk("x"), resp.Int(1)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return fs, m, router, ps, fc
}
