package cluster

import (
	"errors"
	"testing"

	"github.com/justredis/justredis/client"
)

// Watch follows a slot that moved without the client knowing: the old
// owner refuses WATCH with MOVED (nothing has run, fn has not been
// called), and Watch goes to the new owner at once, teaching the router.
// It used to return the MOVED, and the next Watch went to the old owner
// again, until a refresh for some other reason.
func TestWatchFollowsMoved(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	from, to := c.Masters()[0], c.Masters()[1]
	slot := from.Slots()[0].Start
	key := keyInSlot(slot)
	if _, err := db.Do(ctx, "SET", key, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MigrateSlots(ctx, from, to, []int{slot}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := db.Watch(ctx, []string{key}, func(tx *client.Tx) error {
		calls++
		tx.Command("INCR", key)
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("Watch after the slot moved: %v (fn called %d times); want nil, once", err, calls)
	}
	if v, err := db.Do(ctx, "GET", key); err != nil || v.Str != "2" {
		t.Fatalf("%s = %q, %v; want 2", key, v.Str, err)
	}
	r, _ := routerOf(m)
	if tp := r.topo.Load(); tp.shards[tp.slots[slot]].master != to.Addr() {
		t.Fatalf("the router still sends slot %d to %s, not %s", slot, tp.shards[tp.slots[slot]].master, to.Addr())
	}
}

// The commands a Watch queues must be in the watched keys' slot, as the
// docs say (ErrCrossSlot), and nothing runs when one is not.
func TestWatchCrossSlot(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	a, b := keyInSlot(0), keyInSlot(SlotCount-1)
	err := db.Watch(ctx, []string{a}, func(tx *client.Tx) error {
		tx.Command("SET", b, "x")
		return nil
	})
	if !errors.Is(err, ErrCrossSlot) || !client.NotExecuted(err) {
		t.Fatalf("Watch(%s) queueing SET %s: %v; want ErrCrossSlot, not executed", a, b, err)
	}
	if n, err := db.Do(ctx, "EXISTS", b); err != nil || n.Int != 0 {
		t.Fatalf("EXISTS %s = %d, %v: it ran", b, n.Int, err)
	}
}
