package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// Regression tests of pub/sub on sharded channels: SSUBSCRIBE and
// SUNSUBSCRIBE, MOVED, and re-homing a channel whose slot moved.
// (pubsub_regress_test.go has the reconnection and failure cases,
// pubsub_change_regress_test.go the turn-taking of changes.)

// A late SUNSUBSCRIBE confirmation (of a Close, which does not wait for it,
// or of a concurrent SUnsubscribe) is not mistaken for the server dropping
// the channel, with RESP2 and RESP3 alike: the next SSubscribe of the same
// channel is confirmed and gets its messages.
func TestPubSubLateSUnsubscribeConfirmation(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Protocol: proto})
			ctx := testCtx(t)
			db := m.Database(0)
			keep := m.PubSub(PubSubOptions{})
			defer keep.Close()
			if err := keep.SSubscribe(ctx, "keep"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 50; i++ {
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				a, b, c := m.PubSub(PubSubOptions{}), m.PubSub(PubSubOptions{}), m.PubSub(PubSubOptions{})
				if err := a.SSubscribe(sctx, "s"); err != nil {
					t.Fatal(err)
				}
				_ = a.Close()
				errB := b.SSubscribe(sctx, "s")
				errC := make(chan error, 1)
				go func() { errC <- c.SSubscribe(sctx, "s") }()
				errU := b.SUnsubscribe(sctx, "s")
				if err := <-errC; err != nil || errB != nil || errU != nil {
					cancel()
					_, _ = b.Close(), c.Close()
					t.Fatalf("iteration %d: SSubscribe after Close: %v, concurrent SSubscribe: %v, SUnsubscribe: %v", i, errB, err, errU)
				}
				payload := fmt.Sprint("m", i)
				if n, err := Int64(db.Do(ctx, "SPUBLISH", "s", payload)); err != nil || n != 1 {
					t.Fatalf("iteration %d: SPUBLISH reached %d clients (%v)", i, n, err)
				}
				msg, err := c.Receive(sctx)
				cancel()
				if err != nil || msg.Kind != KindSMessage || msg.Payload != payload {
					t.Fatalf("iteration %d: got %+v, %v", i, msg, err)
				}
				_, _ = b.Close(), c.Close()
			}
			if err := keep.Ping(ctx, "still in step"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPubSubSUnsubscribeWhenPingIsRefused: an SUNSUBSCRIBE goes out with a
// PING that delimits its replies; when the PING itself is answered with an
// error (here NOPERM: the user may not PING; BUSY during a long script is
// the other case), that error still ends the SUNSUBSCRIBE's wait, and the
// replies that follow go to their own commands. The error used to be taken
// for the SUNSUBSCRIBE's, its waiter kept waiting for a PING answer that
// had come, and every later command on the connection got the reply of the
// one before it (SSubscribe and Ping hung).
func TestPubSubSUnsubscribeWhenPingIsRefused(t *testing.T) {
	srv := startServer(t, redisserver.Options{
		Users: []redisserver.User{{Name: "noping", Password: "pw", Rules: []string{"~*", "&*", "+@all", "-ping"}}},
	})
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Protocol: proto, Username: "noping", Password: "pw"})
			ctx := testCtx(t)
			ps := m.PubSub(PubSubOptions{})
			defer ps.Close()
			if err := ps.SSubscribe(ctx, "a", "b"); err != nil {
				t.Fatal(err)
			}
			short := func() context.Context {
				c, cancel := context.WithTimeout(ctx, 5*time.Second)
				t.Cleanup(cancel)
				return c
			}
			if err := ps.SUnsubscribe(short(), "a"); err != nil {
				t.Fatalf("SUnsubscribe (its PING refused): %v; want nil, the SUNSUBSCRIBE's outcome", err)
			}
			if err := ps.SSubscribe(short(), "c"); err != nil {
				t.Fatalf("SSubscribe after it: %v", err)
			}
			if err := ps.Ping(short(), ""); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("Ping as a user who may not: %v; want its own NOPERM", err)
			}
			if n, err := Int64(m.Database(0).Do(ctx, "SPUBLISH", "c", "hi")); err != nil || n != 1 {
				t.Fatalf("SPUBLISH c reached %d clients, %v; want 1", n, err)
			}
			if msg, err := ps.Receive(short()); err != nil || msg.Kind != KindSMessage || msg.Payload != "hi" {
				t.Fatalf("Receive: %+v, %v", msg, err)
			}
		})
	}
}

// TestShardSubscribeSurvivesLostConnection: under a sharded router, a node's
// pub/sub connection lost after an SSubscribe made its new entry and before
// the SSUBSCRIBE went out does not take the entry with it: the SSUBSCRIBE
// goes out on the next connection and its messages arrive. The loss used to
// drop every entry not confirmed yet, so SSubscribe returned nil, the
// server held the subscription, and every message was dropped.
func TestShardSubscribeSurvivesLostConnection(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	addr := serverAddr(t, srv)
	m, err := NewWithRouter(Config{Endpoints: []string{addr}}, func(m *Mux) (Router, error) {
		return &oneNodeRouter{m: m, addr: addr}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first := m.PubSub(PubSubOptions{})
	defer first.Close()
	if err := first.SSubscribe(ctx, "a"); err != nil { // the node's pub/sub connection
		t.Fatal(err)
	}
	var once sync.Once
	hook := func(h *pubsubHub) {
		once.Do(func() {
			if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
				t.Error(err)
			}
			waitFor(t, "the hub to see its connection lost", func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return h.conn == nil
			})
		})
	}
	afterEntries.Store(&hook)
	defer afterEntries.Store(nil)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.SSubscribe(ctx, "b"); err != nil {
		t.Fatalf("SSubscribe across the lost connection: %v", err)
	}
	afterEntries.Store(nil)
	if n, err := Int64(m.Database(0).Do(ctx, "SPUBLISH", "b", "hi")); err != nil || n != 1 {
		t.Fatalf("SPUBLISH b reached %d clients, %v; want 1", n, err)
	}
	if msg := nextOfKind(t, ps, KindSMessage); msg.Channel != "b" || msg.Payload != "hi" {
		t.Fatalf("got %+v", msg)
	}
}

// An SUNSUBSCRIBE answered MOVED (the node lost the channel's slot, and
// with it every subscription to it, before the client heard) has done
// what was asked: SUnsubscribe returns nil, and the next command's replies
// are its own. It used to return the MOVED error. A fake server: a real
// one answers so only in the moment between losing a slot and the
// client's noticing.
func TestPubSubSUnsubscribeAnsweredMoved(t *testing.T) {
	ctx := testCtx(t)
	ps, _, fc := fakeShardSubscriber(t, "a", "b")
	done := make(chan error, 1)
	go func() { done <- ps.SUnsubscribe(ctx, "a") }()
	fc.expect("SUNSUBSCRIBE", "a")
	fc.expect("PING")
	fc.reply(resp.ErrorValue("MOVED 7 other:6379"), resp.SimpleString("PONG"))
	if err := <-done; err != nil {
		t.Fatalf("SUnsubscribe answered MOVED: %v; want nil (nothing is subscribed there)", err)
	}
	go func() { done <- ps.SUnsubscribe(ctx, "b") }()
	fc.expect("SUNSUBSCRIBE", "b")
	fc.expect("PING")
	fc.reply(resp.ErrorValue("ERR something else"), resp.SimpleString("PONG"))
	if err := <-done; err == nil || !strings.Contains(err.Error(), "something else") {
		t.Fatalf("SUnsubscribe answered an error: %v; want that error", err)
	}
}

// A node that loses a slot pushes sunsubscribe for its channels before it
// answers an SUNSUBSCRIBE already on its way with MOVED. The push cannot
// be told from the SUNSUBSCRIBE's own confirmation, but the MOVED after it
// is still the SUNSUBSCRIBE's answer (a PING is never answered with a slot
// error): the waiter ends with the PING's answer, and the commands behind
// it get their own replies. MOVED used to be taken for the PING's answer,
// and every reply after it went to the command before its own.
func TestPubSubSUnsubscribeMovedAfterServerPush(t *testing.T) {
	ctx := testCtx(t)
	ps, _, fc := fakeShardSubscriber(t, "a")
	unsub, subC, subD := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { unsub <- ps.SUnsubscribe(ctx, "a") }()
	fc.expect("SUNSUBSCRIBE", "a")
	fc.expect("PING")
	go func() { subC <- ps.SSubscribe(ctx, "c") }()
	fc.expect("SSUBSCRIBE", "c")
	go func() { subD <- ps.SSubscribe(ctx, "d") }()
	fc.expect("SSUBSCRIBE", "d")
	fc.reply(
		resp.Push(resp.Bulk("sunsubscribe"), resp.Bulk("a"), resp.Int(0)), // the slot left the node
		resp.ErrorValue("MOVED 7 other:6379"),                             // the SUNSUBSCRIBE's answer
		resp.SimpleString("PONG"),                                         // its PING's
		resp.Push(resp.Bulk("ssubscribe"), resp.Bulk("c"), resp.Int(1)),   // SSUBSCRIBE c's
		resp.ErrorValue("ERR not d"),                                      // SSUBSCRIBE d's
	)
	if err := <-unsub; err != nil {
		t.Errorf("SUnsubscribe: %v; want nil", err)
	}
	if err := <-subC; err != nil {
		t.Errorf("SSubscribe c: %v; want nil", err)
	}
	if err := <-subD; err == nil || !strings.Contains(err.Error(), "not d") {
		t.Errorf("SSubscribe d: %v; want its own answer, ERR not d", err)
	}
}

// fakeShardSubscriber returns a subscriber of a sharded client (one node,
// a fake server) that has subscribed channels, one SSubscribe each, the
// fake server, and the fake's side of its pub/sub connection. The client
// and the subscriber are closed at the end of the test.
func fakeShardSubscriber(t *testing.T, channels ...string) (*PubSub, *fakeServer, *fakeConn) {
	t.Helper()
	fs, cfg := newFake(t)
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) { return &oneNodeRouter{m: m, addr: "fake:6379"}, nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	t.Cleanup(func() { _ = ps.Close() })
	fs.commands = true // a pub/sub connection does not ask COMMAND
	done := make(chan error, 1)
	var fc *fakeConn
	for i, ch := range channels {
		go func() { done <- ps.SSubscribe(ctx, ch) }()
		if i == 0 {
			fc = fs.accept()
		}
		fc.expect("SSUBSCRIBE", ch)
		fc.reply(resp.Push(resp.Bulk("ssubscribe"), resp.Bulk(ch), resp.Int(int64(i+1))))
		if err := <-done; err != nil {
			t.Fatalf("SSubscribe %s: %v", ch, err)
		}
	}
	return ps, fs, fc
}

// On a cluster node hub, a lost connection re-homes every shard channel; a
// channel the server then refuses with NOPERM (its permission revoked,
// which is what made Redis drop the connection) is dropped and its
// subscriber told, as a refused renewal is. It used to be tried again,
// about once a second, for ever: the subscriber still listed it and was
// told nothing. (Found by a review.)
func TestPubSubRehomeRefusedIsDropped(t *testing.T) {
	srv := startServer(t, redisserver.Options{
		Users: []redisserver.User{{Name: "u", Password: "pw", Rules: []string{"~*", "&a", "&b", "+@all"}}},
	})
	ctx := testCtx(t)
	addr := serverAddr(t, srv)
	m, err := NewWithRouter(Config{Endpoints: []string{addr}, Username: "u", Password: "pw"}, func(m *Mux) (Router, error) {
		return &oneNodeRouter{m: m, addr: addr}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pa, pb := m.PubSub(PubSubOptions{}), m.PubSub(PubSubOptions{})
	defer pa.Close()
	defer pb.Close()
	if err := pa.SSubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := pb.SSubscribe(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do(ctx, "ACL", "SETUSER", "u", "resetchannels", "&a"); err != nil {
		t.Fatal(err)
	}
	for _, ps := range []*PubSub{pa, pb} {
		if msg, err := ps.Receive(ctx); err != nil || msg.Kind != KindReconnected {
			t.Fatalf("Receive after b was revoked: %+v, %v; want KindReconnected", msg, err)
		}
	}
	if _, _, shard := pb.Subscriptions(); len(shard) != 0 {
		t.Fatalf("the subscriber of b lists %v; want nothing", shard)
	}
	if _, _, shard := pa.Subscriptions(); !slices.Equal(shard, []string{"a"}) {
		t.Fatalf("the subscriber of a lists %v; want [a]", shard)
	}
	if n, err := Int64(m.Database(0).Do(ctx, "SPUBLISH", "a", "hi")); err != nil || n != 1 {
		t.Fatalf("SPUBLISH a reached %d, %v; want 1", n, err)
	}
}

// SSubscribe(a, b) on a node where b is already subscribed (for another
// subscriber) and a is not: when the node's connection is lost while a is
// being confirmed, a fails with it and b, confirmed, is re-homed with both
// subscribers. b stays the subscriber's: Subscriptions lists it and its
// messages reach it. It used to be forgotten as part of the failed group
// while the re-homing, having asked the subscriber first, subscribed it
// all the same: its messages came, and Subscriptions did not list it.
// (Found by a review.) Holding the lost connection's lock stands for its
// reader preempted between telling the hub and failing the waiters, the
// window in which the re-homing claims b.
func TestPubSubFailedSSubscribeKeepsRehomedChannel(t *testing.T) {
	other, fs, fc1 := fakeShardSubscriber(t, "b")
	m := other.m
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	done := make(chan error, 1)
	go func() { done <- ps.SSubscribe(ctx, "a", "b") }()
	fc1.expect("SSUBSCRIBE", "a") // b is subscribed already; a is not answered
	h := m.Node("fake:6379").hub
	h.mu.Lock()
	c1 := h.conn
	h.mu.Unlock()

	c1.mu.Lock() // its reader stops between lost(c1) and fail(c1)
	_ = fc1.nc.Close()
	fc2 := fs.accept()
	fc2.expect("SSUBSCRIBE", "b") // the re-homing, for the first of its subscribers
	fc2.reply(resp.Push(resp.Bulk("ssubscribe"), resp.Bulk("b"), resp.Int(1)))
	waitFor(t, "the re-homing to subscribe both subscribers to b", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		e := h.names[kindShard]["b"]
		return e != nil && e.subs[ps] && e.subs[other]
	})
	c1.mu.Unlock()
	if err := <-done; !errors.Is(err, ErrConnection) {
		t.Fatalf("SSubscribe a b: %v; want the lost connection's error", err)
	}
	if _, _, shard := ps.Subscriptions(); !slices.Equal(shard, []string{"b"}) {
		t.Fatalf("after the failed SSubscribe the subscriber lists %v; want [b] (re-homed with it)", shard)
	}
	fc2.reply(resp.Push(resp.Bulk("smessage"), resp.Bulk("b"), resp.Bulk("hi")))
	if msg := nextOfKind(t, ps, KindSMessage); msg.Channel != "b" || msg.Payload != "hi" {
		t.Fatalf("message %+v; want hi on b", msg)
	}
}

// recordingRouter is a oneNodeRouter that counts its routing calls and
// records the trouble it hears of.
type recordingRouter struct {
	oneNodeRouter
	routes   atomic.Int32
	mu       sync.Mutex
	troubles []error
}

// recorded returns a Mux for cfg whose router, a recordingRouter, sends
// every slot to addr; the Mux is closed when the test ends.
func recorded(t *testing.T, cfg Config, addr string) (*Mux, *recordingRouter) {
	t.Helper()
	var router *recordingRouter
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) {
		router = &recordingRouter{oneNodeRouter: oneNodeRouter{m: m, addr: addr}}
		return router, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, router
}

// fakeRecorded is recorded on a fake server.
func fakeRecorded(t *testing.T) (*fakeServer, *Mux, *recordingRouter) {
	t.Helper()
	fs, cfg := newFake(t)
	m, router := recorded(t, cfg, "fake:6379")
	return fs, m, router
}

func (r *recordingRouter) Node(ctx context.Context, slot int, replica bool) (*Node, error) {
	r.routes.Add(1)
	return r.oneNodeRouter.Node(ctx, slot, replica)
}

func (r *recordingRouter) Trouble(_ *Node, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.troubles = append(r.troubles, err)
}

// A re-homing attempt that runs out of time waiting for the hub's turn
// (held here by the test, as a slow change would) does not tell the router
// the node is in trouble: a cluster router refreshes its topology then.
// It used to, at every attempt.
func TestPubSubRehomeWaitIsNotNodeTrouble(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	addr := serverAddr(t, srv)
	m, router := recorded(t, Config{Endpoints: []string{addr}, ConnectTimeout: 2 * time.Second}, addr)
	ctx := testCtx(t)
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.SSubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	h := m.Node(addr).hub
	release := holdTurn(t, h) // the re-homing's changes wait for it until their attempt's time is up
	routed := router.routes.Load()
	if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the re-homing to try a second time", func() bool { return router.routes.Load() >= routed+2 })
	release()
	nextOfKind(t, ps, KindReconnected)
	if n, err := Int64(m.Database(0).Do(ctx, "SPUBLISH", "a", "hi")); err != nil || n != 1 {
		t.Fatalf("SPUBLISH a after the re-homing reached %d, %v; want 1", n, err)
	}
	router.mu.Lock()
	defer router.mu.Unlock()
	for _, e := range router.troubles {
		if errors.Is(e, context.DeadlineExceeded) || errors.Is(e, ErrClosed) {
			t.Errorf("the router was told of trouble with the node: %v", e)
		}
	}
}
