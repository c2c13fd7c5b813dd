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
// run one at a time, each until the cluster is stable again. An operation
// waiting for its turn gives up when its context ends; Stop ends the
// operation in progress.
type Cluster struct {
	opts     Options             // defaults applied; immutable
	nodeOpts redisserver.Options // every node's options; immutable after start

	// turn holds a token while an operation or Stop runs: they take it in
	// turns, waiting with a select that also watches their context.
	turn chan struct{}
	// ctx is the cluster's own context, which Stop cancels to end the
	// operation in progress (and those waiting for their turn).
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	nodes      []*Node              // guarded by mu: every node ever added, in order
	migrations map[int]*Migration   // guarded by mu: open migrations by slot
	network    *redisserver.Network // guarded by mu: created for the cluster, or nil
	stopped    bool                 // guarded by mu: Stop was called
	cleaned    bool                 // guarded by mu: a Stop removed everything
	mended     []string             // guarded by mu: what waitStable mended (see Mended)
}

// Mended lists, oldest first, each time the harness gave a master back
// slots that every other node gave it and its own view had lost, a state
// Redis 7.0 never leaves by itself (see the package doc): when, which
// node, which slots. Keys the master held in those slots, Redis deleted
// when it lost them. Run logs the list when the test fails.
func (c *Cluster) Mended() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.mended)
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
// network the harness created. An operation in progress ends at once with
// an error matching ErrStopped, and Stop waits for it, within ctx; the
// operations called after Stop return ErrStopped. The removals are not cut
// short by ctx (see redisserver's Server.Stop). If Stop fails to remove
// something, calling it again tries again; once it succeeded, Stop does
// nothing. Run calls Stop at the end of the test.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.cleaned {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()
	c.cancel()
	// Wait for the operation in progress to end: it is being cancelled.
	// Should it not end within ctx, stop the nodes under it anyway (a node
	// it starts meanwhile is stopped by adopt).
	select {
	case c.turn <- struct{}{}:
		defer func() { <-c.turn }()
	case <-ctx.Done():
	}
	c.mu.Lock()
	nodes, network := slices.Clone(c.nodes), c.network
	c.mu.Unlock()

	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.srv.Stop(ctx) })
	}
	wg.Wait()
	if network != nil {
		errs = append(errs, network.Remove(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clusterharness: stop: %w", err)
	}
	c.mu.Lock()
	c.cleaned = true
	c.mu.Unlock()
	return nil
}

// begin starts an operation: it waits for its turn (or for ctx or Stop),
// checks that the cluster still runs and that every node in nodes belongs
// to it and is not removed, and returns the operation's context (ctx, also
// ended by Stop) and end, which the caller must defer with the address of
// its error: end lets the next operation run, and makes an error of an
// operation that Stop cut short match ErrStopped.
func (c *Cluster) begin(ctx context.Context, nodes ...*Node) (context.Context, func(*error), error) {
	select {
	case c.turn <- struct{}{}:
	case <-c.ctx.Done():
		return nil, nil, ErrStopped
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("clusterharness: waiting for the operation in progress: %w", ctx.Err())
	}
	if err := c.checkNodes(nodes); err != nil {
		<-c.turn
		return nil, nil, err
	}
	octx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	end := func(errp *error) {
		stop()
		cancel()
		if *errp != nil && c.ctx.Err() != nil && !errors.Is(*errp, ErrStopped) {
			*errp = fmt.Errorf("%w: %w", ErrStopped, *errp)
		}
		<-c.turn
	}
	return octx, end, nil
}

// checkNodes returns ErrStopped when the cluster was stopped, or an error
// matching ErrUnknownNode unless every node belongs to it, not removed.
func (c *Cluster) checkNodes(nodes []*Node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return ErrStopped
	}
	for _, n := range nodes {
		if n == nil {
			return fmt.Errorf("%w: nil node", ErrUnknownNode)
		}
		if n.c != c || n.removed {
			return fmt.Errorf("%w: %s", ErrUnknownNode, n.Addr())
		}
	}
	return nil
}

// adopt adds started nodes to the cluster. When Stop has begun meanwhile
// (and may not see them), it stops them itself and returns ErrStopped.
func (c *Cluster) adopt(ctx context.Context, nodes ...*Node) error {
	c.mu.Lock()
	if !c.stopped {
		c.nodes = append(c.nodes, nodes...)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	errs := []error{ErrStopped}
	for _, n := range nodes {
		errs = append(errs, n.srv.Stop(sctx))
	}
	return errors.Join(errs...)
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
