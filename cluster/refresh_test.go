package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
	"github.com/justredis/justredis/resp"
)

// leaderDeadline is the deadline of the caller that starts a refresh in
// TestRefreshOutlivesLeaderCtx. The other caller joins the refresh within
// it, and the seed stays paused for about this long, well under the
// cluster's node timeout so that the cluster does not fail the seed over.
const leaderDeadline = 200 * time.Millisecond

// newSeededClient returns a cluster client seeded with seeds only, closed at
// the end of the test.
func newSeededClient(t *testing.T, seeds []string, opts ...Option) *client.Mux {
	t.Helper()
	m, err := New(client.Config{Endpoints: seeds}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// addrsOf returns the nodes' addresses, sorted.
func addrsOf(nodes []*clusterharness.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Addr())
	}
	slices.Sort(out)
	return out
}

// A refresh is done once for every caller who asks meanwhile: the ctx of
// the caller that happened to start it (the leader) ending early must not
// fail the others. On a new client seeded with one master, paused so that
// the refresh cannot finish at once, the leader runs a command with a short
// deadline; a second caller with a long one joins the refresh; the leader's
// deadline passes. The second caller must then get the topology once the
// seed answers again, or, when the client is closed meanwhile, an error
// matching client.ErrClosed (not the leader's deadline).
func TestRefreshOutlivesLeaderCtx(t *testing.T) {
	c := startCluster(t)
	ctx := testCtx(t)
	seed := c.Masters()[0]
	key := keyInSlot(seed.Slots()[0].Start)
	get := func(ctx context.Context, m *client.Mux) error {
		_, err := m.Database(0).Do(ctx, "GET", key)
		return err
	}
	masters := func(ctx context.Context, m *client.Mux) error {
		got, err := Masters(ctx, m)
		if want := addrsOf(c.Masters()); err == nil && !slices.Equal(got, want) {
			return fmt.Errorf("Masters = %v, want %v", got, want)
		}
		return err
	}
	cases := []struct {
		name   string
		waiter func(context.Context, *client.Mux) error // the second caller
		close  bool                                     // close the client while the waiter waits
	}{
		{name: "command waits for the refresh", waiter: get},
		{name: "Masters waits for the refresh", waiter: masters},
		{name: "Close ends the refresh", waiter: get, close: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newSeededClient(t, []string{seed.Addr()}, RefreshInterval(time.Hour))
			r, err := routerOf(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := seed.Server().Pause(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = seed.Server().Resume() })

			leaderCtx, cancel := context.WithTimeout(ctx, leaderDeadline)
			defer cancel()
			leaderErr := make(chan error, 1)
			go func() { leaderErr <- get(leaderCtx, m) }()
			refreshing := func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.refreshing != nil
			}
			if !clPoll(leaderDeadline/2, refreshing) {
				t.Fatal("the leader's command started no refresh")
			}
			waiterCtx, cancelWaiter := context.WithTimeout(ctx, 10*time.Second)
			defer cancelWaiter()
			waiterErr := make(chan error, 1)
			go func() { waiterErr <- tc.waiter(waiterCtx, m) }()

			if err := <-leaderErr; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("leader: %v, want its own deadline", err)
			}
			if tc.close {
				_ = m.Close()
			} else if err := seed.Server().Resume(); err != nil {
				t.Fatal(err)
			}
			err = <-waiterErr
			switch {
			case tc.close && !errors.Is(err, client.ErrClosed):
				t.Fatalf("waiter after Close: %v, want ErrClosed", err)
			case !tc.close && err != nil:
				t.Fatalf("waiter: %v (the leader's deadline failed it)", err)
			}
		})
	}
}

// A client seeded with the masters only finds the cluster again after
// every one of those masters has died and a replica has taken over each:
// a refresh asks the replicas it knows, not only the known masters and the
// seeds (which are all dead). The masters are paused first, so that the
// cluster fails them over while the client's connections to them stay
// open and idle (a broken connection would make the client refresh, and
// learn of the promotions, in between), then killed.
func TestRefreshAsksKnownReplicas(t *testing.T) {
	c := startCluster(t)
	ctx := testCtx(t)
	old := c.Masters()
	m := newSeededClient(t, addrsOf(old), RefreshInterval(time.Hour))
	r, err := routerOf(m)
	if err != nil {
		t.Fatal(err)
	}
	// CLUSTER SHARDS reports a replica whose replication offset is 0 (on
	// a cluster never written to, as this one) as "loading": the client
	// does not read from it, but a refresh must still ask it.
	var refreshErr error
	knowsReplicas := func() bool {
		if _, refreshErr = Masters(ctx, m); refreshErr != nil {
			return false
		}
		for _, s := range r.topo.Load().shards {
			if len(s.replicas)+len(s.standby) == 0 {
				return false
			}
		}
		return true
	}
	if !clPoll(20*time.Second, knowsReplicas) {
		t.Fatalf("the client does not know a replica of every master (last refresh: %v)", refreshErr)
	}
	for _, n := range old {
		if err := c.Pause(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range old {
		if err := c.Kill(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	want := addrsOf(c.Masters())
	if slices.ContainsFunc(want, func(a string) bool { return slices.Contains(addrsOf(old), a) }) {
		t.Fatalf("masters after the failovers %v include an old one of %v", want, addrsOf(old))
	}
	got, err := Masters(ctx, m)
	if err != nil {
		t.Fatalf("Masters after every seed died: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Masters = %v, want %v", got, want)
	}
	db := m.Database(0)
	for _, n := range c.Masters() {
		k := keyInSlot(n.Slots()[0].Start)
		if _, err := db.Do(ctx, "SET", k, n.Addr()); err != nil {
			t.Fatalf("SET %q (served by %s): %v", k, n.Addr(), err)
		}
		if v, err := client.String(db.Do(ctx, "GET", k)); err != nil || v != n.Addr() {
			t.Fatalf("GET %q = %q, %v", k, v, err)
		}
	}
}

// A refresh is not held up by a node that hangs when the others agree:
// with one of the three masters paused, a refresh ends well within the
// time one node's query may take (queryTimeout), with the view of the
// two that answer.
func TestRefreshNotHeldUpByHungNode(t *testing.T) {
	c := startCluster(t)
	ctx := testCtx(t)
	m := newSeededClient(t, addrsOf(c.Masters()), RefreshInterval(time.Hour))
	want, err := Masters(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	// Paused for less than the cluster's node timeout: the cluster does
	// not notice, the client does.
	hung := c.Masters()[0]
	if err := hung.Server().Pause(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := Masters(ctx, m)
	took := time.Since(start)
	if rerr := hung.Server().Resume(); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("refresh with %s paused: %v", hung.Addr(), err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Masters = %v, want %v", got, want)
	}
	if took >= queryTimeout/2 {
		t.Fatalf("the refresh took %v with one node hung: it waited for that node (queryTimeout %v)", took, queryTimeout)
	}
}

// parseShards keeps a "loading" replica (replication offset 0) apart: not
// read from, but asked by refreshes; a failed one is dropped.
func TestParseShardsLoadingReplica(t *testing.T) {
	str := func(s string) resp.Value { return resp.Value{Type: resp.TypeBulkString, Str: s} }
	num := func(n int64) resp.Value { return resp.Value{Type: resp.TypeInteger, Int: n} }
	node := func(port int64, role, health string) resp.Value {
		return resp.Value{Type: resp.TypeMap, Elems: []resp.Value{
			str("ip"), str("127.0.0.1"), str("port"), num(port),
			str("role"), str(role), str("health"), str(health),
		}}
	}
	reply := resp.Value{Type: resp.TypeArray, Elems: []resp.Value{{Type: resp.TypeMap, Elems: []resp.Value{
		str("slots"), {Type: resp.TypeArray, Elems: []resp.Value{num(0), num(SlotCount - 1)}},
		str("nodes"), {Type: resp.TypeArray, Elems: []resp.Value{
			node(7000, "master", "online"), node(7001, "replica", "online"),
			node(7002, "replica", "loading"), node(7003, "replica", "fail"),
		}},
	}}}}
	topo, err := parseShards(reply, "127.0.0.1:7000", false)
	if err != nil {
		t.Fatal(err)
	}
	s := topo.shards[0]
	if s.master != "127.0.0.1:7000" || !slices.Equal(s.replicas, []string{"127.0.0.1:7001"}) || !slices.Equal(s.standby, []string{"127.0.0.1:7002"}) {
		t.Fatalf("shard: master %s, replicas %v, standby %v; want 7000, [7001], [7002]", s.master, s.replicas, s.standby)
	}
	r := &router{}
	r.topo.Store(topo)
	if got := slices.Sorted(slices.Values(r.candidates()[1:])); !slices.Equal(got, []string{"127.0.0.1:7001", "127.0.0.1:7002"}) {
		t.Fatalf("candidates after the master: %v, want both replicas", got)
	}
}

// TestCandidates: a refresh asks the masters, then the replicas, then the
// seeds, each node once, each group in a random order (so that a batch of
// dead masters is not in front of the same live ones at every refresh).
func TestCandidates(t *testing.T) {
	var shards []*shard
	var masters, replicas []string
	for i := range 8 {
		m, r := fmt.Sprintf("m%d:1", i), fmt.Sprintf("r%d:1", i)
		masters, replicas = append(masters, m), append(replicas, r)
		shards = append(shards, &shard{master: m, replicas: []string{r}, ranges: [][2]int{{i * 100, i*100 + 99}}})
	}
	topo, err := newTopology(shards)
	if err != nil {
		t.Fatal(err)
	}
	r := &router{seeds: []string{"m3:1", "s1:1", "s2:1"}}
	r.topo.Store(topo)
	firsts := map[string]bool{}
	for range 50 {
		c := r.candidates()
		if len(c) != 18 {
			t.Fatalf("candidates %v: want 8 masters, 8 replicas and the 2 seeds that are neither", c)
		}
		for _, g := range []struct {
			got, want []string
		}{{c[:8], masters}, {c[8:16], replicas}, {c[16:], []string{"s1:1", "s2:1"}}} {
			if got := slices.Sorted(slices.Values(g.got)); !slices.Equal(got, g.want) {
				t.Fatalf("candidates %v: a group is %v, want %v in some order", c, got, g.want)
			}
		}
		firsts[c[0]] = true
	}
	if len(firsts) < 2 {
		t.Errorf("50 refreshes all asked %v first", firsts)
	}
}

// Views that differ only in whether a replica is online or still loading
// (nodes learn of a replica's first sync at different times) are one view
// to a refresh: the replica serves reads only if every view says online,
// and stays known (standby: asked by refreshes) otherwise.
func TestMergeViews(t *testing.T) {
	view := func(replicas, standby []string) *topology {
		topo, err := newTopology([]*shard{{master: "m:1", replicas: replicas, standby: standby, ranges: [][2]int{{0, SlotCount - 1}}}})
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	a := view([]string{"r1:1", "r2:1"}, []string{"s:1"})
	b := view([]string{"r1:1"}, []string{"r2:1", "s:1"})
	if a.fingerprint() != b.fingerprint() {
		t.Fatal("views differing only in online or loading replicas have different fingerprints")
	}
	a.merge(b)
	if s := a.shards[0]; !slices.Equal(s.replicas, []string{"r1:1"}) || !slices.Equal(s.standby, []string{"r2:1", "s:1"}) {
		t.Fatalf("after the merge: replicas %v, standby %v; want [r1:1], [r2:1 s:1]", s.replicas, s.standby)
	}
	if c := view([]string{"r1:1"}, nil); c.fingerprint() == b.fingerprint() {
		t.Fatal("a view that lost a replica (failed) has the fingerprint of one that has it")
	}
}

// shardsReply builds a CLUSTER SHARDS reply of one shard owning every slot,
// with nodes given as field/value lists.
func shardsReply(nodes ...[]any) resp.Value {
	str := func(s string) resp.Value { return resp.Value{Type: resp.TypeBulkString, Str: s} }
	num := func(n int64) resp.Value { return resp.Value{Type: resp.TypeInteger, Int: n} }
	var nv []resp.Value
	for _, fields := range nodes {
		m := resp.Value{Type: resp.TypeMap}
		for i := 0; i+1 < len(fields); i += 2 {
			m.Elems = append(m.Elems, str(fields[i].(string)))
			switch v := fields[i+1].(type) {
			case string:
				m.Elems = append(m.Elems, str(v))
			case int:
				m.Elems = append(m.Elems, num(int64(v)))
			}
		}
		nv = append(nv, m)
	}
	return resp.Value{Type: resp.TypeArray, Elems: []resp.Value{{Type: resp.TypeMap, Elems: []resp.Value{
		str("slots"), {Type: resp.TypeArray, Elems: []resp.Value{num(0), num(SlotCount - 1)}},
		str("nodes"), {Type: resp.TypeArray, Elems: nv},
	}}}}
}

// With tls-cluster, a node's "port" is its plain port (if any) and
// "tls-port" its TLS one: a TLS client takes the TLS port, a plain one the
// plain port.
func TestParseShardsTLSPort(t *testing.T) {
	reply := shardsReply(
		[]any{"ip", "127.0.0.1", "port", 7000, "tls-port", 17000, "role", "master", "health", "online"},
		[]any{"ip", "127.0.0.1", "port", 7001, "tls-port", 17001, "role", "replica", "health", "online"},
	)
	for _, tc := range []struct {
		tls          bool
		master, repl string
	}{{true, "127.0.0.1:17000", "127.0.0.1:17001"}, {false, "127.0.0.1:7000", "127.0.0.1:7001"}} {
		topo, err := parseShards(reply, "127.0.0.1:7000", tc.tls)
		if err != nil {
			t.Fatal(err)
		}
		if s := topo.shards[0]; s.master != tc.master || !slices.Equal(s.replicas, []string{tc.repl}) {
			t.Errorf("tls=%v: master %s, replicas %v; want %s, [%s]", tc.tls, s.master, s.replicas, tc.master, tc.repl)
		}
	}
}

// From Redis 7.2 a failed old master stays in its shard, role "master",
// health "fail", beside the replica promoted in its place: the live master
// wins, in whatever order they come. A failed master alone is still the
// shard's master (the cluster has nothing better to offer).
func TestParseShardsFailedOldMaster(t *testing.T) {
	live := []any{"ip", "127.0.0.1", "port", 7001, "role", "master", "health", "online"}
	dead := []any{"ip", "127.0.0.1", "port", 7000, "role", "master", "health", "fail"}
	for _, order := range [][][]any{{live, dead}, {dead, live}} {
		topo, err := parseShards(shardsReply(order...), "127.0.0.1:7001", false)
		if err != nil {
			t.Fatal(err)
		}
		if got := topo.shards[0].master; got != "127.0.0.1:7001" {
			t.Errorf("master = %s, want the live 127.0.0.1:7001", got)
		}
	}
	topo, err := parseShards(shardsReply(dead), "127.0.0.1:7001", false)
	if err != nil || topo.shards[0].master != "127.0.0.1:7000" {
		t.Fatalf("a failed master alone: %v, %v", topo, err)
	}
}
