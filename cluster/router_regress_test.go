package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
)

// commandCalls returns how many times node ran the command (lower case,
// as INFO commandstats names it).
func commandCalls(ctx context.Context, t *testing.T, node *clusterharness.Node, cmd string) int {
	t.Helper()
	v, err := node.Server().Do(ctx, "INFO", "commandstats")
	if err != nil {
		t.Fatalf("INFO commandstats on %s: %v", node.Addr(), err)
	}
	m := regexp.MustCompile(`cmdstat_` + regexp.QuoteMeta(cmd) + `:calls=(\d+)`).FindStringSubmatch(v.Str)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// offlineClient returns a cluster client seeded with endpoint (nothing
// need listen there), refreshing on its own only hourly, closed at the end
// of the test, and its router.
func offlineClient(t *testing.T, endpoint string, opts ...Option) (*client.Mux, *router) {
	t.Helper()
	m, err := New(client.Config{Endpoints: []string{endpoint}, ConnectRetry: 1}, append(opts, RefreshInterval(time.Hour))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	r, err := routerOf(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

// setRefreshGap sets the router's minimum gap between refreshes.
func setRefreshGap(r *router, d time.Duration) {
	r.mu.Lock()
	r.refreshGap = d
	r.mu.Unlock()
}

// lastRefreshOf returns when r's last refresh ended.
func lastRefreshOf(r *router) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastRefresh
}

// Commands for a slot no node serves do not each run a refresh: within
// the gap after the last refresh they fail at once with ErrSlotNotServed
// (not executed) and ask the cluster nothing; after it, the next one
// refreshes again. (The gap is stretched to an hour for the first part,
// so that the test does not depend on how fast the commands run.)
func TestUnservedSlotRefreshSpaced(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c, RefreshInterval(time.Hour))
	r, err := routerOf(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "warm", 1); err != nil { // learn the topology
		t.Fatal(err)
	}
	slot := c.Masters()[0].Slots()[0].Start
	for _, n := range c.Nodes() {
		if _, err := n.Server().Do(ctx, "CLUSTER", "DELSLOTS", slot); err != nil {
			t.Fatal(err)
		}
	}
	var refreshErr error
	if !clPoll(20*time.Second, func() bool {
		_, refreshErr = Masters(ctx, m)
		return refreshErr == nil && r.topo.Load().slots[slot] < 0
	}) {
		t.Fatalf("the client does not see slot %d unserved (last refresh: %v)", slot, refreshErr)
	}
	setRefreshGap(r, time.Hour)
	key := keyInSlot(slot)
	// Count refreshes by when the last one ended, not by the servers'
	// query counters: a vote returns once decided, and the last queries of
	// Masters' refresh may still reach a server after that.
	before := lastRefreshOf(r)
	for i := range 50 {
		_, err := db.Do(ctx, "GET", key)
		if !errors.Is(err, ErrSlotNotServed) || !client.NotExecuted(err) {
			t.Fatalf("GET #%d for the unserved slot: %v, want ErrSlotNotServed, not executed", i, err)
		}
	}
	if last := lastRefreshOf(r); !last.Equal(before) {
		t.Fatalf("50 commands for an unserved slot within the refresh gap ran a refresh (ended %v after the last)", last.Sub(before))
	}
	setRefreshGap(r, 0)
	if _, err := db.Do(ctx, "GET", key); !errors.Is(err, ErrSlotNotServed) || !client.NotExecuted(err) {
		t.Fatalf("GET after the gap: %v, want ErrSlotNotServed, not executed", err)
	}
	if last := lastRefreshOf(r); !last.After(before) {
		t.Fatal("a command for an unserved slot after the gap ran no refresh")
	}
}

// Before any topology, a command within the gap after a failed refresh
// starts no refresh: it fails at once with that refresh's error (wrapped:
// ErrTopology, not executed). After the gap the next one refreshes again.
func TestNoTopologyRefreshSpaced(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: dials are refused
	m, r := offlineClient(t, dead)
	setRefreshGap(r, time.Hour)
	ctx := testCtx(t)
	db := m.Database(0)
	check := func(what string) {
		t.Helper()
		if _, err := db.Do(ctx, "GET", "k"); !errors.Is(err, ErrTopology) || !client.NotExecuted(err) {
			t.Fatalf("%s: %v, want ErrTopology, not executed", what, err)
		}
	}
	check("first command")
	first := lastRefreshOf(r)
	if first.IsZero() {
		t.Fatal("the first command ran no refresh")
	}
	for i := range 20 {
		check("command within the gap #" + strconv.Itoa(i))
	}
	if got := lastRefreshOf(r); !got.Equal(first) {
		t.Fatal("a command within the gap after a failed refresh ran another refresh")
	}
	setRefreshGap(r, 0)
	check("command after the gap")
	if got := lastRefreshOf(r); got.Equal(first) {
		t.Fatal("a command after the gap ran no refresh")
	}
}

// A command for a slot without an owner, within the gap after a refresh
// that failed, gets ErrSlotNotServed wrapping that refresh's error.
func TestUnservedSlotAfterFailedRefresh(t *testing.T) {
	_, r := offlineClient(t, "127.0.0.1:1")
	topo, err := newTopology([]*shard{{master: "127.0.0.1:7000", ranges: [][2]int{{1, SlotCount - 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	r.topo.Store(topo)
	r.mu.Lock()
	r.refreshGap, r.lastRefresh, r.lastErr = time.Hour, time.Now(), fmt.Errorf("%w: every node refused", ErrTopology)
	r.mu.Unlock()
	_, err = r.Node(testCtx(t), 0, false)
	if !errors.Is(err, ErrSlotNotServed) || !errors.Is(err, ErrTopology) {
		t.Fatalf("slot 0 without an owner, the last refresh failed: %v, want ErrSlotNotServed and ErrTopology", err)
	}
	r.mu.Lock()
	started := r.refreshing != nil
	r.mu.Unlock()
	if started {
		t.Fatal("a command within the gap started a refresh")
	}
}

// With ReplicaReads, a replica that dies does not fail reads while its
// master is healthy: the cluster (node timeout 20s) still lists it as
// online, but the client skips it after the first failure.
func TestReplicaReadsDeadReplica(t *testing.T) {
	c := clusterharness.Run(t, clusterharness.Options{NodeTimeout: 20 * time.Second})
	m := newClient(t, c, ReplicaReads(), RefreshInterval(time.Hour))
	r, err := routerOf(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	db := m.Database(0)
	master := c.Masters()[0]
	rep := c.ReplicasOf(master)[0]
	slot := master.Slots()[0].Start
	key := keyInSlot(slot)
	if _, err := db.Do(ctx, "SET", key, "v"); err != nil {
		t.Fatal(err)
	}
	// The replica serves reads once CLUSTER SHARDS calls it online (after
	// its first sync of a write). Every node must say so before it dies:
	// a node that has not yet heard of its sync still calls it "loading",
	// and a refresh whose vote that view won would send its reads to the
	// master for that reason alone.
	var refreshErr error
	if !clPoll(30*time.Second, func() bool {
		for _, n := range c.Nodes() {
			v, err := n.Server().Do(ctx, "CLUSTER", "SHARDS")
			if err != nil {
				refreshErr = err
				return false
			}
			tp, err := parseShards(v, n.Addr(), false)
			if err != nil || tp.slots[slot] < 0 || !slices.Contains(tp.shards[tp.slots[slot]].replicas, rep.Addr()) {
				refreshErr = fmt.Errorf("%s does not call %s online (%v)", n.Addr(), rep.Addr(), err)
				return false
			}
		}
		if _, refreshErr = Masters(ctx, m); refreshErr != nil {
			return false
		}
		tp := r.topo.Load()
		return slices.Contains(tp.shards[tp.slots[slot]].replicas, rep.Addr())
	}) {
		t.Fatalf("replica %s is not online in every view: %v", rep.Addr(), refreshErr)
	}
	gets := commandCalls(ctx, t, rep, "get")
	if v, err := client.String(db.Do(ctx, "GET", key)); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if commandCalls(ctx, t, rep, "get") == gets {
		t.Fatalf("the read did not go to replica %s", rep.Addr())
	}
	if err := rep.Server().Kill(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if v, err := client.String(db.Do(ctx, "GET", key)); err != nil || v != "v" {
			t.Fatalf("GET #%d after replica %s died, master healthy: %q, %v", i, rep.Addr(), v, err)
		}
	}
}

// A replica the client reported trouble with is skipped (its shard's
// other replicas, or else its master, serve the reads) until its
// quarantine is over; trouble with a master marks nothing.
func TestReplicaQuarantine(t *testing.T) {
	m, r := offlineClient(t, "127.0.0.1:1", ReplicaReads())
	// Trouble's refresh waits for the gap (until Close), so the view stays
	// as stored: a refresh "ended" just now, and the gap is an hour.
	r.mu.Lock()
	r.refreshGap, r.lastRefresh = time.Hour, time.Now()
	r.mu.Unlock()
	const master, rep1, rep2 = "127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"
	topo, err := newTopology([]*shard{{master: master, replicas: []string{rep1, rep2}, ranges: [][2]int{{0, SlotCount - 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	r.topo.Store(topo)
	ctx := testCtx(t)
	reads := func() map[string]bool {
		t.Helper()
		got := map[string]bool{}
		for range 100 {
			n, err := r.Node(ctx, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			got[n.Addr()] = true
		}
		return got
	}
	want := func(what string, addrs ...string) {
		t.Helper()
		got := reads()
		for _, a := range addrs {
			if !got[a] {
				t.Fatalf("%s: reads went to %v, never to %s", what, got, a)
			}
			delete(got, a)
		}
		if len(got) > 0 {
			t.Fatalf("%s: reads went to %v, want only %v", what, got, addrs)
		}
	}
	trouble := errors.New("connection refused")
	want("both replicas healthy", rep1, rep2)
	r.Trouble(m.Node(master), trouble)
	want("after trouble with the master", rep1, rep2)
	r.Trouble(m.Node(rep1), trouble)
	want("after trouble with one replica", rep2)
	r.Trouble(m.Node(rep2), trouble)
	want("after trouble with both replicas", master)
	if n, err := r.Node(ctx, 0, false); err != nil || n.Addr() != master {
		t.Fatalf("a write goes to %v, %v", n, err)
	}
	// Backdate rep1's trouble past its quarantine.
	r.mu.Lock()
	next := map[string]time.Time{}
	for a, since := range *r.suspects.Load() {
		next[a] = since
	}
	next[rep1] = time.Now().Add(-replicaQuarantine)
	r.suspects.Store(&next)
	r.mu.Unlock()
	want("after rep1's quarantine", rep1)
	r.mu.Lock()
	r.pruneSuspectsLocked(time.Now())
	left := *r.suspects.Load()
	r.mu.Unlock()
	if _, ok := left[rep1]; ok || len(left) != 1 {
		t.Fatalf("suspects after pruning: %v, want only %s", left, rep2)
	}
}

// A MOVED to the node the view already has for the slot (the rest of a
// burst of MOVED replies, or one that a refresh overtook) changes
// nothing and copies nothing; one to another node moves the slot.
func TestMovedToCurrentOwner(t *testing.T) {
	topo, err := newTopology([]*shard{
		{master: "a:1", ranges: [][2]int{{0, 99}}},
		{master: "b:1", ranges: [][2]int{{100, SlotCount - 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &router{wake: make(chan struct{}, 1)}
	r.topo.Store(topo)
	if n := testing.AllocsPerRun(100, func() { r.Moved(5, "a:1") }); n != 0 {
		t.Errorf("MOVED to the slot's owner: %v allocations, want 0", n)
	}
	if r.topo.Load() != topo {
		t.Fatal("MOVED to the slot's owner replaced the view")
	}
	r.Moved(5, "b:1")
	if got := r.topo.Load(); got.shards[got.slots[5]].master != "b:1" || got.shards[got.slots[6]].master != "a:1" {
		t.Fatal("MOVED to another node did not move the slot (alone)")
	}
}

// RefreshInterval(0) or a negative one means the default. Before, the
// router's background loop passed it to time.NewTicker, which panicked,
// killing the program on a goroutine of ours.
func TestRefreshIntervalNotPositiveIsDefault(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		m, err := New(client.Config{Endpoints: []string{"127.0.0.1:1"}, ConnectRetry: 1}, RefreshInterval(d))
		if err != nil {
			t.Fatal(err)
		}
		r, err := routerOf(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.opts.refreshInterval; got != DefaultRefreshInterval {
			t.Errorf("RefreshInterval(%v): the router refreshes every %v, want %v", d, got, DefaultRefreshInterval)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
