// Package clusterharness starts private Redis Clusters for tests: masters
// and replicas from the local redis-server binary or in Docker containers
// (the backends of the redisserver package), built in about two seconds, and
// operations that break and reshape them (kill, restart, pause, network
// partition, failover, slot migration with real keys, adding and removing
// nodes), each of which returns once the cluster is stable again.
//
// The package speaks RESP through the resp module only and starts servers
// with redisserver; it never imports our client, so any project can test
// its own Redis Cluster client with it.
//
// # Use
//
// In a test, Run starts a cluster and stops it when the test ends:
//
//	func TestFailover(t *testing.T) {
//		c := clusterharness.Run(t, clusterharness.Options{}) // 3 masters, 1 replica each
//		client := mycluster.New(c.Addrs()...)
//		...
//		master := c.SlotOwner(clusterharness.KeySlot("user:42"))
//		c.Kill(t.Context(), master)    // returns once its replica took over
//		... // the client must find the new master
//		c.Restart(t.Context(), master) // it rejoins as a replica
//	}
//
// Elsewhere (a TestMain, a program), Start does the same and the caller
// calls Stop.
//
// # How the cluster is built
//
// The harness starts Options.Masters × (1 + Options.Replicas) nodes at once
// with Options.Node as the template (cluster mode on, a free port each).
// It gives each master an even share of the 16384 slots with CLUSTER
// ADDSLOTSRANGE, a distinct epoch with CLUSTER SET-CONFIG-EPOCH, has the
// first node CLUSTER MEET every other one, waits until every node knows
// every other, makes the replicas follow their masters with CLUSTER
// REPLICATE, and waits until the cluster is stable. redis-cli is not
// needed. Nodes run with a short cluster-node-timeout (DefaultNodeTimeout),
// cluster-replica-validity-factor 0 and cluster-allow-replica-migration no.
//
// Redis itself keeps a new master's cluster_state at fail for two seconds
// after it starts (so that a rebooted master does not take writes before
// the cluster could reconfigure it), which puts a floor of about two
// seconds under Start.
//
// # Stable
//
// WaitStable, which every operation ends with, polls the live nodes (every
// 50 ms, each answering CLUSTER INFO, CLUSTER NODES and INFO
// replication on one connection) until all of these hold, or ctx ends:
//
//   - every live node answers and says cluster_state:ok;
//   - every live node knows every other live node at its address, connected,
//     without the fail, fail?, handshake or noaddr flags;
//   - all live nodes see the live nodes the same way: roles, which master
//     each replica follows, which slots each master owns;
//   - every slot is owned by a live master;
//   - every live replica follows a live master and says
//     master_link_status:up;
//   - no node has a slot migrating or importing, but for the slots of an
//     open Migration (begun, neither finished nor aborted), and the target
//     of such a slot sees its source as a live master;
//   - no migration was left open by a MigrateSlots that failed half-way;
//
// plus the operation's own condition (Failover: the replica is a master;
// MigrateSlots: the target owns the slots; ...). When ctx ends first, the
// error is a *StabilityError listing, node by node, what the last complete
// check found wrong.
//
// "Live" means what the harness did not take away: a node killed, paused or
// partitioned by the harness is not asked, and must own no slots, so after
// Kill of a master the cluster is stable once a replica has been promoted.
// Nodes changed behind the harness's back (through Node.Server) are still
// asked, and the wait reports them.
//
// Masters, Replicas, SlotOwner and the Node accessors (Role, Master,
// Slots) give the topology as of the last time the cluster was seen
// stable, which is the current one after every operation.
//
// # Slot migration
//
// MigrateSlots moves slots and their keys the way redis-cli --cluster reshard
// does (SETSLOT IMPORTING and MIGRATING, GETKEYSINSLOT and MIGRATE until each
// slot is empty, SETSLOT NODE on the target, the source and the other
// masters), so clients running meanwhile meet ASK and then MOVED. It returns
// once every node agrees on the new owner. (Every operation waits for that
// kind of agreement; when a master's own view lacks slots that every other
// node gives it, a state Redis 7.0 never leaves, the harness gives them to it
// again and bumps its epoch, redis-cli --cluster fix's remedy.)
// BeginMigration, Migration.MoveKeys and Migration.Finish are the same in
// steps, for tests that need a slot held in the migrating state, with some
// keys moved and others not.
//
// Every failure leaves a way back. A MigrateSlots that fails half-way (its
// context ends while keys move, a MIGRATE fails, ...) leaves its migration
// open, with some keys on each node, and the cluster not stable until the
// test decides: MigrateSlots again with the same from, to and slots resumes
// and finishes it; BeginMigration with the same arguments returns the open
// Migration, which Migration.Abort ends (SETSLOT STABLE on every live
// master: the slots stay with their owner; keys already moved stay on the
// target, out of the clients' reach, until the slot migrates there again).
// A Migration whose source was killed or failed over cannot finish, and
// its target, importing the slots, ignores their new owner (Redis does):
// the cluster is not stable until Abort. RemoveNode refuses the nodes of
// an open migration.
//
// # Containers
//
// With the container backend (Options.Node.Backend, or
// $REDISSERVER_BACKEND=container) the nodes run on a Docker network of the
// cluster's own, and Partition and Heal cut a node off it and reconnect it.
// Everything else behaves the same on both backends. See the redisserver
// package for the image (built from the local binary, nothing is pulled)
// and for cleanup after a killed test binary.
//
// # Limits
//
// TLS options are passed to the nodes and used by the harness's own
// connections, but the harness's tests do not cover TLS clusters. Only one
// operation runs at a time; one waiting for its turn gives up when its
// context ends, and Stop ends the one in progress (its error then matches
// ErrStopped). Operations are bounded by their context (a failover takes a
// little more than twice the node timeout). Failover of the replica of a
// master without slots needs FailoverTakeover: Redis ignores the other
// modes then, and Failover says so (ErrWrongRole).
package clusterharness
