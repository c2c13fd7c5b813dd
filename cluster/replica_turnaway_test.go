package cluster

import (
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/redisserver"
)

// A replica cut off from the cluster's majority answers CLUSTERDOWN while
// its master serves: ReplicaReads sends the read to the master at once and
// sets the replica aside. Pipelined reads (Command) were retried on the
// replica until the budget was spent and failed. The replica is a
// cluster-mode node owning no slots, which answers every keyed command
// "CLUSTERDOWN Hash slot not served"; the master a plain server; the view
// is set by hand.
func TestReplicaClusterDownReadGoesToMaster(t *testing.T) {
	master := redisserver.Run(t, redisserver.Options{})
	replica := redisserver.Run(t, redisserver.Options{Cluster: true})
	ctx := testCtx(t)
	if _, err := master.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	m, r := offlineClient(t, "127.0.0.1:1", ReplicaReads())
	r.mu.Lock()
	r.refreshGap, r.lastRefresh = time.Hour, time.Now() // keep the view set below
	r.mu.Unlock()
	topo, err := newTopology([]*shard{{master: master.Addr(), replicas: []string{replica.Addr()}, ranges: [][2]int{{0, SlotCount - 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	r.topo.Store(topo)
	db := m.Database(0)
	for _, pipelined := range []bool{true, false} {
		r.suspects.Store(nil) // the replica is trusted again
		var v string
		if pipelined {
			v, err = client.String(db.Command(ctx, "GET", "k").Reply(ctx))
		} else {
			v, err = client.String(db.Do(ctx, "GET", "k"))
		}
		if err != nil || v != "v" {
			t.Fatalf("pipelined %v: GET = %q, %v; want the master's v", pipelined, v, err)
		}
		if sus := r.suspects.Load(); sus == nil || (*sus)[replica.Addr()].IsZero() {
			t.Fatalf("pipelined %v: the replica is not set aside", pipelined)
		}
	}
}
