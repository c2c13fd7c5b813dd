package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
)

// waitBlockedInChange polls the goroutine stacks until one is waiting for
// a mutex inside pubsubHub.change.
func waitBlockedInChange(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "Mutex).lockSlow") && strings.Contains(g, "(*pubsubHub).change(") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no goroutine waits for a lock in pubsubHub.change")
		}
		<-tick.C
	}
}

// A subscription change that gets the hub's lock only after Close has run
// must not add the closed subscriber to the hub: nothing would ever remove
// it again. The test holds the hub's write lock while Subscribe waits for
// it, and meanwhile does what Close does (its remove of the subscriber from
// the hub finds nothing yet: with another subscriber keeping the connection
// open it is a no-op).
func TestPubSubChangeAfterClose(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	keep := m.PubSub(PubSubOptions{})
	defer keep.Close()
	if err := keep.Subscribe(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	h := m.single.hub
	ps := m.PubSub(PubSubOptions{})

	h.wmu.Lock()
	done := make(chan error, 1)
	go func() { done <- ps.Subscribe(ctx, "ch") }()
	waitBlockedInChange(t)
	ps.mu.Lock() // Close, but for h.remove(ps)
	ps.closed = true
	close(ps.done)
	ps.hubs = map[*pubsubHub]bool{}
	ps.mu.Unlock()
	h.wmu.Unlock()

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
	afterEntries = func(h *pubsubHub) {
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
	defer func() { afterEntries = nil }()
	ps := m.PubSub(PubSubOptions{})
	defer ps.Close()
	if err := ps.SSubscribe(ctx, "b"); err != nil {
		t.Fatalf("SSubscribe across the lost connection: %v", err)
	}
	afterEntries = nil
	if n, err := Int64(m.Database(0).Do(ctx, "SPUBLISH", "b", "hi")); err != nil || n != 1 {
		t.Fatalf("SPUBLISH b reached %d clients, %v; want 1", n, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		msg, err := ps.Receive(rctx)
		if err != nil {
			t.Fatalf("the message to b never came: %v", err)
		}
		if msg.Kind == KindSMessage {
			if msg.Channel != "b" || msg.Payload != "hi" {
				t.Fatalf("got %+v", msg)
			}
			return
		}
	}
}
