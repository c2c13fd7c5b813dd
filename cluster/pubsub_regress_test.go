package cluster

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
)

// receiveShard waits up to d for ps's next shard message, skipping other
// kinds, and fails the test unless its payload is payload.
func receiveShard(t *testing.T, ps *client.PubSub, payload string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			t.Fatalf("waiting for shard message %q: %v", payload, err)
		}
		if msg.Kind == client.KindSMessage {
			if msg.Payload != payload {
				t.Fatalf("got shard message %+v, want payload %q", msg, payload)
			}
			return
		}
	}
}

// receivers returns how many clients of the slot owner an SPUBLISH to
// channel reached.
func receivers(t *testing.T, db client.Database, channel, payload string) int64 {
	t.Helper()
	n, err := client.Int64(db.Do(testCtx(t), "SPUBLISH", channel, payload))
	if err != nil {
		t.Fatalf("SPUBLISH %s: %v", channel, err)
	}
	return n
}

// A subscriber's late SUNSUBSCRIBE confirmation is not a slot move: another
// subscriber that subscribes the same shard channel meanwhile gets its
// confirmation and its messages, and every later command on the connection
// still gets its own reply. A third subscriber keeps the node's pub/sub
// connection open, so the SUNSUBSCRIBE is really sent and confirmed late.
func TestLateSUnsubscribeConfirmation(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	keep := m.PubSub(client.PubSubOptions{})
	defer keep.Close()
	if err := keep.SSubscribe(ctx, "{x}keep"); err != nil {
		t.Fatal(err)
	}
	const ch = "{x}s"

	// check publishes to ch and wants exactly b to receive it.
	check := func(t *testing.T, b *client.PubSub, i int) {
		t.Helper()
		payload := fmt.Sprint("m", i)
		if n := receivers(t, db, ch, payload); n != 1 {
			t.Fatalf("iteration %d: SPUBLISH reached %d clients, want 1", i, n)
		}
		receiveShard(t, b, payload, 10*time.Second)
	}

	t.Run("AfterClose", func(t *testing.T) {
		for i := 0; i < 50; i++ {
			a := m.PubSub(client.PubSubOptions{})
			if err := a.SSubscribe(ctx, ch); err != nil {
				t.Fatal(err)
			}
			_ = a.Close() // sends SUNSUBSCRIBE, does not wait for it
			b := m.PubSub(client.PubSubOptions{})
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := b.SSubscribe(sctx, ch)
			cancel()
			if err != nil {
				_ = b.Close()
				t.Fatalf("iteration %d: SSubscribe after another subscriber's Close: %v", i, err)
			}
			check(t, b, i)
			_ = b.Close()
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		for i := 0; i < 50; i++ {
			a := m.PubSub(client.PubSubOptions{})
			b := m.PubSub(client.PubSubOptions{})
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := a.SSubscribe(sctx, ch); err != nil {
				cancel()
				t.Fatalf("iteration %d: %v", i, err)
			}
			errA := make(chan error, 1)
			go func() { errA <- a.SUnsubscribe(sctx, ch) }()
			errB := b.SSubscribe(sctx, ch)
			ea := <-errA
			cancel()
			if ea != nil || errB != nil {
				_, _ = a.Close(), b.Close()
				t.Fatalf("iteration %d: concurrent SUnsubscribe: %v, SSubscribe: %v", i, ea, errB)
			}
			check(t, b, i)
			_, _ = a.Close(), b.Close()
		}
	})

	// The connection's replies still match their commands.
	if err := keep.SSubscribe(ctx, "{x}keep2"); err != nil {
		t.Fatal(err)
	}
	if n := receivers(t, db, "{x}keep2", "k"); n != 1 {
		t.Fatalf("SPUBLISH {x}keep2 reached %d clients", n)
	}
	receiveShard(t, keep, "k", 10*time.Second)
}

// waitDown polls until nothing accepts connections at addr.
func waitDown(t *testing.T, addr string) {
	t.Helper()
	if !clPoll(30*time.Second, func() bool {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		_ = nc.Close()
		return false
	}) {
		t.Fatalf("%s still accepts connections", addr)
	}
}

// Shard channels moved to a new master after a failover stay the
// subscriber's own: SUnsubscribe then really unsubscribes them. One
// subscriber unsubscribes while the client is still looking for the new
// master; it must not be subscribed again when the channel is renewed for
// the other.
func TestShardChannelsFollowFailover(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	const ch = "{orders}.eu"
	gone := m.PubSub(client.PubSubOptions{}) // unsubscribes during the failover
	defer gone.Close()
	ps := m.PubSub(client.PubSubOptions{}) // follows the channel to the new master
	defer ps.Close()
	for _, s := range []*client.PubSub{gone, ps} {
		if err := s.SSubscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	publishUntil(t, db, "SPUBLISH", ch, "s1")
	receiveShard(t, ps, "s1", 10*time.Second)

	owner := c.SlotOwner(Slot(ch))
	killed := make(chan error, 1)
	go func() { killed <- c.Kill(ctx, owner) }()
	waitDown(t, owner.Addr())
	// The replica is promoted after about twice the node timeout: the
	// channel is being re-homed now.
	if err := gone.SUnsubscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if err := <-killed; err != nil {
		t.Fatal(err)
	}

	publishUntil(t, db, "SPUBLISH", ch, "s2")
	if msg := nextNot(t, ps, client.KindSMessage, "s1"); msg.Payload != "s2" {
		t.Fatalf("after the failover: %+v", msg)
	}
	if err := ps.SUnsubscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	var n int64
	if !clPoll(10*time.Second, func() bool {
		n = receivers(t, db, ch, "s3")
		return n == 0
	}) {
		t.Fatalf("SPUBLISH still reaches %d clients after both subscribers unsubscribed (%s, %s)", n, ps, gone)
	}
}

// A partly failed SSubscribe over several nodes leaves none of the names it
// did not subscribe recorded, so that a retry subscribes them. One master
// is paused for less than the node timeout, so that the SSubscribe of its
// channel ends with the context.
func TestPartlyFailedSSubscribeRetries(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	masters := c.Masters()
	var channels []string
	for _, n := range masters {
		channels = append(channels, keyInSlot(n.Slots()[0].Start))
	}
	// Which node's group SSubscribe handles first is up to a map's order:
	// several rounds make it likely the paused one is not last.
	for i := 0; i < 6; i++ {
		paused := masters[i%len(masters)]
		ps := m.PubSub(client.PubSubOptions{})
		if err := paused.Server().Pause(); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := ps.SSubscribe(sctx, channels...)
		cancel()
		if rerr := paused.Server().Resume(); rerr != nil {
			t.Fatal(rerr)
		}
		if err == nil {
			t.Fatalf("round %d: SSubscribe succeeded with %s paused", i, paused)
		}
		if err := ps.SSubscribe(ctx, channels...); err != nil {
			t.Fatalf("round %d: retry: %v", i, err)
		}
		for _, ch := range channels {
			if n := receivers(t, db, ch, "x"); n != 1 {
				t.Fatalf("round %d: SPUBLISH %s reached %d clients after the retry (%s)", i, ch, n, ps)
			}
		}
		_ = ps.Close()
		// Close does not wait for the SUNSUBSCRIBE: let it land before the
		// next round counts receivers.
		for _, ch := range channels {
			if !clPoll(10*time.Second, func() bool { return receivers(t, db, ch, "y") == 0 }) {
				t.Fatalf("round %d: %s still subscribed after Close", i, ch)
			}
		}
	}
}

// Shard channels of different slots on one node can be subscribed (and
// unsubscribed) in one call: Redis answers CROSSSLOT to an SSUBSCRIBE or
// SUNSUBSCRIBE naming several slots.
func TestSSubscribeSeveralSlotsOfOneNode(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	master := c.Masters()[0]
	start := master.Slots()[0].Start
	channels := []string{keyInSlot(start), keyInSlot(start + 1), keyInSlot(start + 2)}
	keep := m.PubSub(client.PubSubOptions{}) // keeps the node's connection open
	defer keep.Close()
	if err := keep.SSubscribe(ctx, keyInSlot(start+3)); err != nil {
		t.Fatal(err)
	}
	check := func(want int64) {
		t.Helper()
		for _, ch := range channels {
			var n int64
			if !clPoll(10*time.Second, func() bool { n = receivers(t, db, ch, "x"); return n == want }) {
				t.Fatalf("SPUBLISH %s reaches %d clients, want %d", ch, n, want)
			}
		}
	}
	ps := m.PubSub(client.PubSubOptions{})
	if err := ps.SSubscribe(ctx, channels...); err != nil {
		t.Fatal(err)
	}
	check(1)
	if err := ps.SUnsubscribe(ctx, channels[:2]...); err != nil {
		t.Fatal(err)
	}
	if n := receivers(t, db, channels[2], "y"); n != 1 {
		t.Fatalf("SPUBLISH %s reaches %d clients, want 1", channels[2], n)
	}
	if err := ps.SSubscribe(ctx, channels[:2]...); err != nil {
		t.Fatal(err)
	}
	check(1)
	_ = ps.Close()
	check(0)
}

// SSubscribe follows MOVED: with the client's view of the slots behind (a
// slot migrated since it last looked, and no command of its own went
// there), SSUBSCRIBE goes to the old owner, which answers MOVED; the
// client learns the move and subscribes on the new owner. It used to
// return the MOVED to the caller.
func TestSSubscribeFollowsMoved(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c, RefreshInterval(time.Hour))
	ctx := testCtx(t)
	db := m.Database(0)
	from, to := c.Masters()[0], c.Masters()[1]
	slot := from.Slots()[0].Start
	channel := "{" + keyInSlot(slot) + "}moved"
	if _, err := Masters(ctx, m); err != nil { // the client's view: slot on from
		t.Fatal(err)
	}
	if _, err := c.MigrateSlots(ctx, from, to, []int{slot}); err != nil {
		t.Fatal(err)
	}
	ps := m.PubSub(client.PubSubOptions{})
	defer ps.Close()
	if err := ps.SSubscribe(ctx, channel); err != nil {
		t.Fatalf("SSubscribe after its slot moved: %v", err)
	}
	if n := receivers(t, db, channel, "hello"); n != 1 {
		t.Fatalf("SPUBLISH on the new owner reached %d clients, want 1", n)
	}
	receiveShard(t, ps, "hello", 10*time.Second)
}
