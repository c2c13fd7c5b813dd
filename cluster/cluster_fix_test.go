package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// A node with cluster-preferred-endpoint-type unknown-endpoint (behind a
// load balancer or NAT) reports its endpoint as unknown: the client must
// use the host it asked, as CLUSTER SLOTS is read, not the IP the node
// announces for the cluster bus (10.1.2.3 here, where nothing listens).
func TestUnknownEndpointUsesHostAsked(t *testing.T) {
	srv := redisserver.Run(t, redisserver.Options{Cluster: true, Config: []string{
		"cluster-preferred-endpoint-type unknown-endpoint", "cluster-announce-ip 10.1.2.3"}})
	ctx := testCtx(t)
	if _, err := srv.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, SlotCount-1); err != nil {
		t.Fatal(err)
	}
	shards, err := parseShards(mustShards(t, srv), srv.Addr(), false)
	if err != nil {
		t.Fatal(err)
	}
	v, err := srv.Do(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		t.Fatal(err)
	}
	slots, err := parseSlots(v, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for name, topo := range map[string]*topology{"CLUSTER SHARDS": shards, "CLUSTER SLOTS": slots} {
		if len(topo.shards) != 1 || topo.shards[0].master != srv.Addr() {
			var got []string
			for _, s := range topo.shards {
				got = append(got, s.master)
			}
			t.Errorf("%s: masters %v; want [%s], the address asked", name, got, srv.Addr())
		}
	}
}

// nodeAddr: the preferred endpoint when known; else the host asked; the
// node's IP only when the address asked has no host.
func TestNodeAddr(t *testing.T) {
	for _, tc := range []struct {
		endpoint, ip string
		port         int
		from, want   string
	}{
		{"redis-1.example", "10.0.0.1", 7000, "lb.example:6379", "redis-1.example:7000"},
		{"10.0.0.2", "10.0.0.2", 7001, "lb.example:6379", "10.0.0.2:7001"},
		{"?", "10.0.0.1", 7000, "lb.example:6379", "10.0.0.1:7000"}, // no hostname: the IP
		{"?", "", 7000, "lb.example:6379", "lb.example:7000"},
		{"", "10.0.0.1", 7000, "lb.example:6379", "lb.example:7000"},
		{"", "10.0.0.1", 7000, ":6379", "10.0.0.1:7000"},
		{"?", "?", 7000, "[fe80::1]:6379", "[fe80::1]:7000"},
		{"host", "10.0.0.1", 0, "lb.example:6379", ""},
	} {
		if got := nodeAddr(tc.endpoint, tc.ip, tc.port, tc.from); got != tc.want {
			t.Errorf("nodeAddr(%q, %q, %d, %q) = %q, want %q", tc.endpoint, tc.ip, tc.port, tc.from, got, tc.want)
		}
	}
}

// A blocking read (XREAD ... BLOCK) with ReplicaReads runs on the
// replica it is routed to: its dedicated connection says READONLY, so the
// replica serves it instead of answering MOVED to its master (which the
// client followed, and which cost a topology refresh each time). That
// holds for a dedicated connection pooled before the replica served reads
// too: here, the one that ran a pinned XREAD first, and got MOVED.
func TestBlockingReadOnReplica(t *testing.T) {
	c := startCluster(t)
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
	if _, err := db.Do(ctx, "XADD", key, "*", "f", "v"); err != nil {
		t.Fatal(err)
	}
	if !clPoll(30*time.Second, func() bool {
		if _, err := Masters(ctx, m); err != nil {
			return false
		}
		tp := r.topo.Load()
		return slices.Contains(tp.shards[tp.slots[slot]].replicas, rep.Addr())
	}) {
		t.Fatal("the replica never served reads")
	}

	// A dedicated connection to the replica from before it served reads.
	_, err = db.With(client.Pin(rep.Addr())).Do(ctx, "XREAD", "BLOCK", 100, "STREAMS", key, "0")
	var moved *resp.Error
	if !errors.As(err, &moved) || moved.Prefix != "MOVED" {
		t.Fatalf("pinned XREAD on the replica, before READONLY: %v; want MOVED", err)
	}
	stale := xreadClient(ctx, t, rep)
	if stale == "" {
		t.Fatal("CLIENT LIST on the replica shows no connection that ran XREAD")
	}

	// Any refresh a redirection asks for now runs at once.
	setRefreshGap(r, 0)
	before := lastRefreshOf(r)
	const reads = 5
	for range reads {
		v, err := db.Do(ctx, "XREAD", "BLOCK", 100, "STREAMS", key, "0")
		if err != nil || len(v.Elems) == 0 { // the entry, as a map (RESP3) or a list
			t.Fatalf("XREAD = %v, %v", v, err)
		}
	}
	if got := commandCalls(ctx, t, rep, "xread"); got != reads {
		t.Errorf("the replica ran XREAD %d times, want %d", got, reads)
	}
	if got := commandCalls(ctx, t, master, "xread"); got != 0 {
		t.Errorf("the master ran XREAD %d times: the replica redirected the reads", got)
	}
	if id := xreadClient(ctx, t, rep); id != stale {
		t.Errorf("the reads ran on connection %q of the replica, not on the pooled %q", id, stale)
	}
	if lastRefreshOf(r) != before {
		t.Errorf("blocking reads on a stable cluster refreshed the topology")
	}

	// The same connection as a Conn, whose reset (RESET) leaves the
	// READONLY mode: it is said again before the next blocking read.
	if err := m.Node(rep.Addr()).Dedicated(ctx, func(c *client.Conn) error {
		_, err := c.Do(ctx, "XREAD", "STREAMS", key, "0")
		return err
	}); err != nil {
		t.Fatalf("XREAD on a dedicated Conn to the replica: %v", err)
	}
	if _, err := db.Do(ctx, "XREAD", "BLOCK", 100, "STREAMS", key, "0"); err != nil {
		t.Fatal(err)
	}
	if got := commandCalls(ctx, t, rep, "xread"); got != reads+2 {
		t.Errorf("after a Conn's reset, the replica ran XREAD %d times, want %d", got, reads+2)
	}
	if got := commandCalls(ctx, t, master, "xread"); got != 0 {
		t.Errorf("after a Conn's reset, the master ran XREAD %d times", got)
	}
}

// xreadClient returns the id and flags ("id=... flags=...") of the
// connection of node whose last command was XREAD ("" if none).
func xreadClient(ctx context.Context, t *testing.T, node *clusterharness.Node) string {
	t.Helper()
	v, err := node.Server().Do(ctx, "CLIENT", "LIST")
	if err != nil {
		t.Fatalf("CLIENT LIST on %s: %v", node.Addr(), err)
	}
	for _, line := range strings.Split(v.Str, "\n") {
		if !strings.Contains(line, " cmd=xread") {
			continue
		}
		var id string
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "id=") {
				id = f
			}
		}
		return id
	}
	return ""
}

// A master that serves no slots (just added, here; or emptied by a
// reshard) is one of the masters: Masters lists it and DoOnMasters runs
// on it, so that KEYS or FLUSHALL during a reshard onto it miss nothing.
// Keyed commands still go to the slots' owners.
func TestMastersIncludeSlotless(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "a", "1"); err != nil { // a view without the new node
		t.Fatal(err)
	}
	n, err := c.AddNode(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, mn := range c.Masters() {
		want = append(want, mn.Addr())
	}
	slices.Sort(want)
	if len(want) != 4 || !slices.Contains(want, n.Addr()) {
		t.Fatalf("harness masters %v: want 4, with the new %s", want, n.Addr())
	}
	masters, err := Masters(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(masters, want) {
		t.Errorf("Masters = %v, want %v (the slotless %s included)", masters, want, n.Addr())
	}
	res, err := DoOnMasters(ctx, m, "PING")
	if err != nil {
		t.Fatal(err)
	}
	var ran []string
	for _, r := range res {
		if r.Err != nil || r.Value.Str != "PONG" {
			t.Errorf("PING on %s: %v, %v", r.Addr, r.Value, r.Err)
		}
		ran = append(ran, r.Addr)
	}
	if !slices.Equal(ran, want) {
		t.Errorf("DoOnMasters ran on %v, want %v", ran, want)
	}
	// Keys and keyless commands still go to masters that serve slots.
	before := commandCalls(ctx, t, n, "get") + commandCalls(ctx, t, n, "dbsize")
	for i := range 50 {
		if _, err := db.Do(ctx, "GET", fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Do(ctx, "DBSIZE"); err != nil {
			t.Fatal(err)
		}
	}
	if got := commandCalls(ctx, t, n, "get") + commandCalls(ctx, t, n, "dbsize") - before; got != 0 {
		t.Errorf("the slotless master ran %d routed commands", got)
	}
}

// parseShards keeps a shard that serves no slots (for fan-out) unless its
// master failed, or is listed already; no slot points to it.
func TestParseShardsSlotless(t *testing.T) {
	slotless := func(nodes ...[]any) resp.Value {
		s := shardsReply(nodes...).Elems[0]
		s.Elems[1] = resp.Value{Type: resp.TypeArray} // "slots": none
		return s
	}
	master := func(port int, health string) []any {
		return []any{"ip", "127.0.0.1", "port", port, "role", "master", "health", health}
	}
	reply := resp.Value{Type: resp.TypeArray, Elems: []resp.Value{
		slotless(master(7001, "online"), []any{"ip", "127.0.0.1", "port", 7004, "role", "replica", "health", "online"}),
		shardsReply(master(7000, "online")).Elems[0],
		slotless(master(7002, "fail")),   // dead, or replaced by a failover
		slotless(master(7000, "online")), // the serving master again (a handshake entry)
		slotless(master(7003, "online")),
		slotless(master(7003, "online")),
	}}
	topo, err := parseShards(reply, "127.0.0.1:7000", false)
	if err != nil {
		t.Fatal(err)
	}
	var masters []string
	for _, s := range topo.shards {
		masters = append(masters, s.master)
	}
	if want := []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7003"}; !slices.Equal(masters, want) {
		t.Fatalf("masters %v, want %v", masters, want)
	}
	if r := topo.shards[1].replicas; !slices.Equal(r, []string{"127.0.0.1:7004"}) {
		t.Errorf("replicas of the slotless master: %v", r)
	}
	if topo.covered() != SlotCount || topo.slots[0] != 0 || topo.slots[SlotCount-1] != 0 {
		t.Errorf("slots not all on 127.0.0.1:7000: covered %d, slot 0 on shard %d", topo.covered(), topo.slots[0])
	}
}
