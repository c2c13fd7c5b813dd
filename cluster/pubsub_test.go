package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
)

// next receives the next message of one of the given kinds, within 30s.
func next(t *testing.T, ps *client.PubSub, kinds ...client.MessageKind) client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, k := range kinds {
			if msg.Kind == k {
				return msg
			}
		}
	}
}

// nextNot is next, skipping messages whose payload is the previous one:
// publishUntil may have published it more than once (SPUBLISH counts only
// the receivers of the node it ran on, so a copy can reach us while the
// count says nobody did), and a late copy is not a failure.
func nextNot(t *testing.T, ps *client.PubSub, kind client.MessageKind, previous string) client.Message {
	t.Helper()
	for {
		msg := next(t, ps, kind)
		if msg.Payload != previous {
			return msg
		}
	}
}

// publishUntil publishes until the message reaches at least one subscriber
// (after a failover a subscription may take a moment to be renewed).
func publishUntil(t *testing.T, db client.Database, cmd, channel, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := client.Int64(db.Do(ctx, cmd, channel, payload))
		if err == nil && n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s %s: nobody subscribed (%v)", cmd, channel, err)
		case <-tick.C:
		}
	}
}

// Channel and pattern subscriptions on a cluster: any node serves them;
// when that node dies they are renewed on another, and the subscriber is
// told. Shard channels live on their slot's owner and follow it through a
// failover and a slot migration.
func TestPubSubAcrossFailover(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)

	ps := m.PubSub(client.PubSubOptions{})
	if err := ps.Subscribe(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if err := ps.PSubscribe(ctx, "news.*"); err != nil {
		t.Fatal(err)
	}
	shardCh := "{orders}.eu"
	if err := ps.SSubscribe(ctx, shardCh); err != nil {
		t.Fatal(err)
	}
	publishUntil(t, db, "PUBLISH", "news", "1")
	if msg := next(t, ps, client.KindMessage); msg.Payload != "1" {
		t.Fatalf("got %+v", msg)
	}
	publishUntil(t, db, "SPUBLISH", shardCh, "s1")
	if msg := next(t, ps, client.KindSMessage); msg.Payload != "s1" || msg.Channel != shardCh {
		t.Fatalf("got %+v", msg)
	}

	// Fail over the owner of the shard channel's slot.
	owner := c.SlotOwner(Slot(shardCh))
	if err := c.Failover(ctx, c.ReplicasOf(owner)[0], clusterharness.FailoverDefault); err != nil {
		t.Fatal(err)
	}
	publishUntil(t, db, "SPUBLISH", shardCh, "s2")
	if msg := nextNot(t, ps, client.KindSMessage, "s1"); msg.Payload != "s2" {
		t.Fatalf("after failover: %+v", msg)
	}

	// Move the slot to another master: the server unsubscribes us there,
	// and the client renews the subscription on the new owner.
	owner = c.SlotOwner(Slot(shardCh))
	var target *clusterharness.Node
	for _, n := range c.Masters() {
		if n != owner {
			target = n
			break
		}
	}
	if _, err := c.MigrateSlots(ctx, owner, target, []int{Slot(shardCh)}); err != nil {
		t.Fatal(err)
	}
	publishUntil(t, db, "SPUBLISH", shardCh, "s3")
	if msg := nextNot(t, ps, client.KindSMessage, "s2"); msg.Payload != "s3" {
		t.Fatalf("after the slot moved: %+v", msg)
	}

	// Kill the node that holds the channel and pattern subscriptions: they
	// are renewed on another node and the subscriber is told.
	var host *clusterharness.Node
	for _, n := range c.Nodes() {
		list, err := client.String(n.Server().Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub"))
		if err == nil && strings.Contains(list, "psub=1") {
			host = n
		}
	}
	if host == nil {
		t.Fatal("no node holds the pattern subscription")
	}
	if err := c.Kill(ctx, host); err != nil {
		t.Fatal(err)
	}
	next(t, ps, client.KindReconnected)
	publishUntil(t, db, "PUBLISH", "news.tech", "p1")
	if msg := next(t, ps, client.KindPMessage); msg.Payload != "p1" || msg.Pattern != "news.*" {
		t.Fatalf("pattern after the kill: %+v", msg)
	}
	// Bring it back (as a replica), then the shard channel's owner dies.
	if err := c.Restart(ctx, host); err != nil {
		t.Fatal(err)
	}
	victim := c.SlotOwner(Slot(shardCh))
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatal(err)
	}
	publishUntil(t, db, "SPUBLISH", shardCh, "s4")
	if msg := nextNot(t, ps, client.KindSMessage, "s3"); msg.Payload != "s4" {
		t.Fatalf("after the owner died: %+v", msg)
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
}
