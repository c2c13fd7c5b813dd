package clusterharness

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/justredis/justredis/redisserver"
)

// Role is a node's role in the cluster.
type Role int

// The roles.
const (
	// RoleUnknown: the cluster has not been seen stable with this node in it.
	RoleUnknown Role = iota
	// RoleMaster: the node is a master (it may own no slots).
	RoleMaster
	// RoleReplica: the node replicates a master (see Node.Master).
	RoleReplica
)

// String returns "unknown", "master" or "replica".
func (r Role) String() string {
	switch r {
	case RoleUnknown:
		return "unknown"
	case RoleMaster:
		return "master"
	case RoleReplica:
		return "replica"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// State is what the harness did to a node.
type State int

// The states. A node is live in StateUp only; the stability checks consider
// live nodes only.
const (
	// StateUp: the node runs and is reachable.
	StateUp State = iota
	// StateDown: the node was killed (Kill); Restart brings it back.
	StateDown
	// StatePaused: the node is frozen (Pause); Resume continues it.
	StatePaused
	// StatePartitioned: the node is cut off the network (Partition); Heal
	// reconnects it.
	StatePartitioned
	// StateRemoved: the node left the cluster (RemoveNode) and was stopped.
	StateRemoved
)

// String returns "up", "down", "paused", "partitioned" or "removed".
func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	case StatePaused:
		return "paused"
	case StatePartitioned:
		return "partitioned"
	case StateRemoved:
		return "removed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Node is one node of a Cluster: a redis-server in cluster mode. Its
// address and ID never change (a restarted node keeps its nodes.conf). Its
// role, master and slots are those of the last time the cluster was seen
// stable: every operation and WaitStable refresh them.
type Node struct {
	c    *Cluster
	srv  *redisserver.Server // immutable
	addr string              // immutable: srv.Addr()
	port string              // immutable: the port of addr
	id   string              // immutable: the cluster node ID
	auth []any               // immutable: the AUTH command of the harness's connections, or nil

	// Guarded by c.mu.
	down        bool        // killed, not restarted yet
	paused      bool        // paused, not resumed yet
	partitioned bool        // cut off the network, not healed yet
	removed     bool        // removed from the cluster and stopped
	role        Role        // as last seen stable
	masterID    string      // as last seen stable, for a replica
	slots       []SlotRange // as last seen stable
}

// newNode wraps a started server whose cluster node ID is id.
func newNode(c *Cluster, srv *redisserver.Server, id string) *Node {
	o := srv.Options()
	return &Node{c: c, srv: srv, addr: srv.Addr(), port: strconv.Itoa(srv.Port()), id: id, auth: authArgs(&o)}
}

// ID returns the node's cluster node ID (CLUSTER MYID).
func (n *Node) ID() string { return n.id }

// Addr returns the "host:port" the node listens on and announces to the
// cluster: the address clients connect to, and that MOVED and ASK
// redirections name.
func (n *Node) Addr() string { return n.addr }

// Server returns the node's server, for its host, port, logs and the
// redisserver operations the harness does not wrap. Changing the server's
// state directly (Kill, Pause, ...) bypasses the harness's bookkeeping: use
// the Cluster's operations for that.
func (n *Node) Server() *redisserver.Server { return n.srv }

// Role returns the node's role as of the last time the cluster was seen
// stable.
func (n *Node) Role() Role {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.role
}

// Master returns the master of a replica, as of the last time the cluster
// was seen stable, or nil for a master.
func (n *Node) Master() *Node {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.role != RoleReplica {
		return nil
	}
	return n.c.byIDLocked(n.masterID)
}

// Slots returns the slots a master owns, as of the last time the cluster was
// seen stable; nil for a replica or a master without slots.
func (n *Node) Slots() []SlotRange {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return slices.Clone(n.slots)
}

// State returns what the harness did to the node: StateUp unless it was
// killed, paused, partitioned or removed (and not brought back).
func (n *Node) State() State {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.stateLocked()
}

func (n *Node) stateLocked() State {
	switch {
	case n.removed:
		return StateRemoved
	case n.down:
		return StateDown
	case n.paused:
		return StatePaused
	case n.partitioned:
		return StatePartitioned
	}
	return StateUp
}

// liveLocked reports whether the node runs and is reachable.
func (n *Node) liveLocked() bool { return n.stateLocked() == StateUp }

// String returns the node's address and role, such as
// "127.0.0.1:7001 (master)", for messages.
func (n *Node) String() string {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if s := n.stateLocked(); s != StateUp {
		return fmt.Sprintf("%s (%s, %s)", n.Addr(), n.role, s)
	}
	return fmt.Sprintf("%s (%s)", n.Addr(), n.role)
}
