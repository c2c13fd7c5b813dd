package clusterharness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/justredis/justredis/redisserver"
)

// Cluster is a private Redis Cluster, started by Start or Run. Its methods
// are safe for concurrent use; the operations (those that take a context)
// run one at a time, each until the cluster is stable again.
type Cluster struct {
	opts     Options              // defaults applied; immutable
	nodeOpts redisserver.Options  // every node's options; immutable after start
	network  *redisserver.Network // created for the cluster, or nil; owned by Start and Stop

	// opMu serialises the operations and Stop.
	opMu sync.Mutex

	mu         sync.Mutex
	nodes      []*Node            // guarded by mu: every node ever added, in order
	migrations map[int]*Migration // guarded by mu: unfinished migrations by slot
	stopped    bool               // guarded by mu
}

// Options returns the options the cluster was started with, defaults
// applied and Node.Config holding the harness's lines first.
func (c *Cluster) Options() Options {
	o := c.opts
	o.Node.Config = slices.Clone(o.Node.Config)
	o.Node.Args = slices.Clone(o.Node.Args)
	o.Node.Users = slices.Clone(o.Node.Users)
	return o
}

// Nodes returns every node of the cluster, live or not, removed ones
// excepted: the masters first, then the replicas, in the order they were
// created, then the nodes added later.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if !n.removed {
			out = append(out, n)
		}
	}
	return out
}

// Addrs returns the addresses of the live nodes, masters and replicas: the
// seed addresses for a cluster client.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.nodes {
		if n.liveLocked() {
			out = append(out, n.Addr())
		}
	}
	return out
}

// Masters returns the live masters, as of the last time the cluster was seen
// stable (every operation ends that way), including masters that own no
// slots. After a failover the promoted replica is among them.
func (c *Cluster) Masters() []*Node { return c.liveWithRole(RoleMaster) }

// Replicas returns the live replicas, as of the last time the cluster was
// seen stable.
func (c *Cluster) Replicas() []*Node { return c.liveWithRole(RoleReplica) }

func (c *Cluster) liveWithRole(r Role) []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n.liveLocked() && n.role == r {
			out = append(out, n)
		}
	}
	return out
}

// SlotOwner returns the master that owns slot, as of the last time the
// cluster was seen stable, or nil when slot is out of range or unowned.
func (c *Cluster) SlotOwner(slot int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.removed || n.role != RoleMaster {
			continue
		}
		for _, r := range n.slots {
			if r.Contains(slot) {
				return n
			}
		}
	}
	return nil
}

// ReplicasOf returns the live replicas of master, as of the last time the
// cluster was seen stable.
func (c *Cluster) ReplicasOf(master *Node) []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n.liveLocked() && n.role == RoleReplica && n.masterID == master.id {
			out = append(out, n)
		}
	}
	return out
}

// byIDLocked returns the node with cluster ID id, or nil.
func (c *Cluster) byIDLocked(id string) *Node {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// Stop stops every node (SIGTERM, then SIGKILL, see redisserver's
// Server.Stop) and removes their directories or containers, and the Docker
// network the harness created. Stopping a stopped cluster does nothing.
// Run calls Stop at the end of the test.
func (c *Cluster) Stop(ctx context.Context) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	nodes := append([]*Node(nil), c.nodes...)
	c.mu.Unlock()

	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.srv.Stop(ctx) })
	}
	wg.Wait()
	if c.network != nil {
		errs = append(errs, c.network.Remove(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clusterharness: stop: %w", err)
	}
	return nil
}

// begin starts an operation: it takes opMu (the caller releases it with
// c.opMu.Unlock) and checks that the cluster still runs and that every
// node in nodes belongs to it and is not removed.
func (c *Cluster) begin(nodes ...*Node) error {
	c.opMu.Lock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		c.opMu.Unlock()
		return ErrStopped
	}
	for _, n := range nodes {
		if n == nil || n.c != c || n.removed {
			c.opMu.Unlock()
			if n == nil {
				return fmt.Errorf("%w: nil node", ErrUnknownNode)
			}
			return fmt.Errorf("%w: %s", ErrUnknownNode, n.Addr())
		}
	}
	return nil
}

// requireLive returns an error matching ErrNodeNotLive unless every node is
// live.
func (c *Cluster) requireLive(nodes ...*Node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		if !n.liveLocked() {
			return fmt.Errorf("%w: %s is %s", ErrNodeNotLive, n.Addr(), n.stateLocked())
		}
	}
	return nil
}

// liveNodes returns the live nodes, in order.
func (c *Cluster) liveNodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n.liveLocked() {
			out = append(out, n)
		}
	}
	return out
}
