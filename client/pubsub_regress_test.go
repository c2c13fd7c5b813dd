package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
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
