// Package cluster makes justredis's client work on a Redis Cluster.
//
// New returns the same *client.Mux as client.New, with a cluster router
// plugged in, so Database, Do, Command, Multi, Script, PubSub, Watch and
// Dedicated work unchanged; there is one shared connection per node.
//
//	mux, err := cluster.New(client.Config{Endpoints: []string{"10.0.0.1:7000", "10.0.0.2:7000"}})
//	defer mux.Close()
//	db := mux.Database(0) // a cluster has only database 0
//	_, err = db.Do(ctx, "SET", "{user:42}.name", "Ada")
//
// # Routing
//
// Each command goes to the master that owns the hash slot of its keys (see
// Slot: CRC16 of the key or of its hash tag, the part between the first '{'
// and the first '}' after it when that is not empty). Keys come from the
// server's command metadata (Redis 7 key specifications; COMMAND GETKEYS for
// the few commands that need it). Keys in different slots, in one command,
// transaction or script, give ErrCrossSlot without sending anything; keyless
// commands go to any master. ReplicaReads lets read-only commands use
// replicas; one the client fails to reach, although the cluster still lists
// it as online, is skipped for a few seconds, its reads going to another
// replica or the master.
//
// The slot map comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7),
// asked of several nodes at once (masters, then replicas, then the seeds):
// the view most of them agree on wins, so one stale node cannot mislead
// the client, and one that hangs does not hold the others up. It is
// refreshed, one refresh at a time, after MOVED, TRYAGAIN, CLUSTERDOWN and
// connection failures (a node that refuses connections included), and
// every RefreshInterval; a MOVED updates its slot at once. Refreshes asked
// for by these, and by commands for a slot with no owner in the view, are
// at least 100ms apart: such a command joins the refresh in progress, if
// any, and within 100ms of the last one fails at once, not executed, with
// ErrSlotNotServed (before the client has any view: with the last
// refresh's error, wrapped). ASK (a slot being migrated, whose owner is
// still the one in the map) sends ASKING and the command back-to-back on
// the target's connection, and changes nothing. With Config.TLS the nodes
// are reached on the TLS ports CLUSTER SHARDS reports ("tls-port").
//
// # Failures
//
// The retry rules are the client's: a redirection is always followed (it
// did not run); a command that provably did not run, or a read-only one, is
// re-routed after a node fails; a write whose connection died after sending
// is never silently re-sent, and says client.MaybeExecuted. While a master
// is being failed over, commands for its slots fail with documented errors
// once their retry budget (client.Retries) is spent.
//
// # Pub/sub
//
// Channel and pattern subscriptions live on one node (any: messages reach
// every node) and are renewed on another if it fails. Shard channels
// (PubSub.SSubscribe) live on their slot's owner and move with the slot,
// after a migration or a failover; subscribers get a client.KindReconnected
// message whenever messages may have been missed.
//
// # All masters
//
// Masters lists the masters (endpoints() in Python justredis), those that
// serve no slots yet (or any more) included, so that a reshard onto a new
// node misses nothing; DoOnMasters runs a command on every master and
// returns each one's result (run_commandreply_on_all_masters()). A handle
// pinned with client.Pin(addr) sends to one node and does not follow MOVED.
package cluster
