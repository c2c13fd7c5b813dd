package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
)

// Routing of every key shape: our slot of each key agrees with the
// server's CLUSTER KEYSLOT, and commands reach the right node (no error,
// values read back) for plain keys, hash tags, empty tags, multi-key
// commands in one slot, and slot 0.
func TestRouting(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []string
	for i := 0; i < 300; i++ {
		keys = append(keys, fmt.Sprintf("key:%d:%x", i, rng.Uint64()))
	}
	keys = append(keys, "{user1}.a", "{user1}.b", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "", "{}", "{", "}{")
	node := c.Masters()[0].Server()
	for _, k := range keys {
		want, err := client.Int64(node.Do(ctx, "CLUSTER", "KEYSLOT", k))
		if err != nil {
			t.Fatal(err)
		}
		if got := Slot(k); int64(got) != want {
			t.Fatalf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
		if _, err := db.Do(ctx, "SET", k, "v:"+k); err != nil {
			t.Fatalf("SET %q: %v", k, err)
		}
	}
	for _, k := range keys {
		if s, err := client.String(db.Do(ctx, "GET", k)); err != nil || s != "v:"+k {
			t.Fatalf("GET %q = %q, %v", k, s, err)
		}
	}
	// Multi-key commands within one slot.
	if _, err := db.Do(ctx, "MSET", "{t}1", "a", "{t}2", "b", "{t}3", "c"); err != nil {
		t.Fatal(err)
	}
	if got, err := client.Strings(db.Do(ctx, "MGET", "{t}1", "{t}2", "{t}3")); err != nil || strings.Join(got, "") != "abc" {
		t.Fatalf("MGET = %q, %v", got, err)
	}
	// A key in slot 0 (slot 0 is a real slot).
	k0 := keyInSlot(0)
	if _, err := db.Do(ctx, "SET", k0, "zero"); err != nil {
		t.Fatal(err)
	}
	if s, _ := client.String(db.Do(ctx, "GET", k0)); s != "zero" {
		t.Fatal("slot 0 key lost")
	}
	// Keyless commands go to some master.
	if _, err := db.Do(ctx, "PING"); err != nil {
		t.Fatal(err)
	}
	// Multi-key commands across slots: an error, nothing sent, no panic.
	_, err := db.Do(ctx, "MGET", "a", "b")
	if !errors.Is(err, ErrCrossSlot) || !client.NotExecuted(err) {
		t.Fatalf("cross-slot MGET: %v", err)
	}
	tx := db.Multi()
	tx.Command("SET", "a", 1)
	tx.Command("SET", "b", 2)
	if err := tx.Exec(ctx); !errors.Is(err, ErrCrossSlot) {
		t.Fatalf("cross-slot transaction: %v", err)
	}
	if _, err := client.NewScript("return 1").Run(ctx, db, []string{"a", "b"}); !errors.Is(err, ErrCrossSlot) {
		t.Fatalf("cross-slot script: %v", err)
	}
	// Transactions and scripts go to the slot of their keys.
	tx = db.Multi()
	tx.Command("INCR", "{acct}.n")
	get := tx.Command("GET", "{acct}.n")
	if err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := client.Int64(get.Reply(ctx)); n != 1 {
		t.Fatalf("transaction read %d", n)
	}
	s := client.NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) + redis.call('INCRBY', KEYS[2], ARGV[1])")
	if n, err := client.Int64(s.Run(ctx, db, []string{"{acct}.n", "{acct}.m"}, 5)); err != nil || n != 11 {
		t.Fatalf("script = %d, %v", n, err)
	}
	// Databases other than 0 do not exist on a cluster.
	if _, err := m.Database(1).Do(ctx, "GET", "k"); !errors.Is(err, client.ErrInvalidDB) {
		t.Fatalf("Database(1) on a cluster: %v", err)
	}
}

// keyInSlot finds a key that hashes to slot.
func keyInSlot(slot int) string {
	for i := 0; ; i++ {
		k := fmt.Sprint("k", i)
		if Slot(k) == slot {
			return k
		}
	}
}

// endpoints() and run_commandreply_on_all_masters() of Python justredis.
func TestMastersAndFanOut(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	masters, err := Masters(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range c.Masters() {
		want = append(want, n.Addr())
	}
	sort.Strings(want)
	if strings.Join(masters, ",") != strings.Join(want, ",") {
		t.Fatalf("Masters = %v, want %v", masters, want)
	}
	db := m.Database(0)
	for i := 0; i < 100; i++ {
		if _, err := db.Do(ctx, "SET", fmt.Sprint("fan:", i), i); err != nil {
			t.Fatal(err)
		}
	}
	results, err := DoOnMasters(ctx, m, "DBSIZE")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, r := range results {
		n, err := client.Int64(r.Value, r.Err)
		if err != nil {
			t.Fatalf("%s: %v", r.Addr, err)
		}
		total += n
	}
	if len(results) != 3 || total != 100 {
		t.Fatalf("DBSIZE on %d masters sums to %d, want 3 and 100", len(results), total)
	}
	// Pinned to one node, a command does not follow MOVED.
	key := keyInSlot(c.Masters()[0].Slots()[0].Start)
	other := c.Masters()[1].Addr()
	if _, err := db.With(client.Pin(other)).Do(ctx, "GET", key); resp.ErrorPrefix(err) != "MOVED" {
		t.Fatalf("pinned GET of another node's key: %v, want MOVED", err)
	}
	if _, err := Masters(ctx, mustSingle(t)); !errors.Is(err, ErrNotCluster) {
		t.Fatalf("Masters of a non-cluster Mux: %v", err)
	}
}

func mustSingle(t *testing.T) *client.Mux {
	m, err := client.New(client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}
