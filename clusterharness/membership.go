package clusterharness

import (
	"context"
	"errors"
	"fmt"
)

// AddNode starts a new node with the cluster's options, introduces it to
// the cluster (CLUSTER MEET) and waits until the cluster is stable with it:
// an empty master when replicaOf is nil (MigrateSlots gives it slots), or a
// replica of the master replicaOf (CLUSTER REPLICATE), in sync.
func (c *Cluster) AddNode(ctx context.Context, replicaOf *Node) (_ *Node, err error) {
	var nodes []*Node
	if replicaOf != nil {
		nodes = append(nodes, replicaOf)
	}
	ctx, end, err := c.begin(ctx, nodes...)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	if replicaOf != nil {
		if err := c.requireLive(replicaOf); err != nil {
			return nil, err
		}
		if r := replicaOf.Role(); r != RoleMaster {
			return nil, fmt.Errorf("%w: a replica of %s, a %s", ErrWrongRole, replicaOf.Addr(), r)
		}
	}
	peers := c.liveNodes()
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: no live node to join", ErrNodeNotLive)
	}
	n, err := c.startNode(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.adopt(ctx, n); err != nil {
		return nil, err
	}

	if err := c.meet(ctx, n, peers[0]); err != nil {
		return n, err
	}
	if replicaOf == nil {
		return n, c.waitStable(ctx, expectMaster(n))
	}
	if err := waitKnown(ctx, []*Node{n}, []*Node{replicaOf}); err != nil {
		return n, err
	}
	if _, err := n.do(ctx, "CLUSTER", "REPLICATE", replicaOf.id); err != nil {
		return n, err
	}
	return n, c.waitStable(ctx, expectReplicaOf(n, replicaOf))
}

// RemoveNode takes the node out of the cluster: CLUSTER FORGET on every
// other live node, then it stops the node and removes its files (or
// container), and waits until the cluster is stable without it. The node
// may be live or not, but must own no slots (move them away with
// MigrateSlots), have no replicas, and take part in no open migration
// (finish or abort it); otherwise the error matches ErrNodeInUse. Nodes that are not
// live when it is removed still know it when they come back (they could
// not be told to forget it).
func (c *Cluster) RemoveNode(ctx context.Context, n *Node) (err error) {
	ctx, end, err := c.begin(ctx, n)
	if err != nil {
		return err
	}
	defer end(&err)
	c.mu.Lock()
	var inUse error
	if len(n.slots) > 0 {
		inUse = fmt.Errorf("%w: %s owns slots %s", ErrNodeInUse, n.Addr(), formatRanges(n.slots))
	}
	for _, o := range c.nodes {
		if inUse == nil && !o.removed && o.role == RoleReplica && o.masterID == n.id {
			inUse = fmt.Errorf("%w: %s has the replica %s", ErrNodeInUse, n.Addr(), o.Addr())
		}
	}
	for _, m := range c.migrations {
		if inUse == nil && (m.from == n || m.to == n) {
			inUse = fmt.Errorf("%w: %s takes part in a migration of slots %s (finish or abort it)", ErrNodeInUse, n.Addr(), formatSlots(m.slots))
		}
	}
	c.mu.Unlock()
	if inUse != nil {
		return inUse
	}

	var errs []error
	for _, o := range c.liveNodes() {
		if o == n {
			continue
		}
		if _, err := o.do(ctx, "CLUSTER", "FORGET", n.id); err != nil && !isUnknownNode(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := n.srv.Stop(ctx); err != nil {
		return fmt.Errorf("clusterharness: remove %s: %w", n.Addr(), err)
	}
	c.mu.Lock()
	n.removed = true
	c.mu.Unlock()
	return c.waitStable(ctx, expectForgotten(n.id, n.Addr()))
}
