package clusterharness

import (
	"context"
	"fmt"
)

// Kill kills the node with SIGKILL, like a crash, and waits until the
// cluster is stable without it (see WaitStable): for a master, until the
// cluster has failed it over to one of its replicas, which takes a little
// more than twice Options.NodeTimeout. A master without a live replica is
// never failed over, so the wait ends with ctx and an error saying which
// slots have no live owner. Restart brings the node back.
func (c *Cluster) Kill(ctx context.Context, n *Node) (err error) {
	ctx, end, err := c.begin(ctx, n)
	if err != nil {
		return err
	}
	defer end(&err)
	if err := n.srv.Kill(); err != nil {
		return fmt.Errorf("clusterharness: kill %s: %w", n.Addr(), err)
	}
	c.mu.Lock()
	n.down, n.paused = true, false
	c.mu.Unlock()
	return c.waitStable(ctx)
}

// Restart restarts the node (stopping it first if it runs) on the same
// address, with its nodes.conf and so its identity, and waits until the
// cluster is stable with it. There is no persistence, so the node comes
// back empty: a master that was failed over meanwhile rejoins as a replica
// of the master that now owns its slots (Redis's own behaviour) and resyncs;
// a master restarted faster than the cluster could fail it over is still
// the master of its slots, and their keys are lost. A partitioned node
// stays partitioned (Heal reconnects it), and the wait does not include it.
func (c *Cluster) Restart(ctx context.Context, n *Node) (err error) {
	ctx, end, err := c.begin(ctx, n)
	if err != nil {
		return err
	}
	defer end(&err)
	err = n.srv.Restart(ctx) // wakes a paused server up to stop it
	c.mu.Lock()
	n.down, n.paused = err != nil, false
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("clusterharness: restart %s: %w", n.Addr(), err)
	}
	return c.waitStable(ctx)
}

// Pause freezes the node (SIGSTOP, or docker pause): it accepts
// connections and answers nothing. Like Kill, it waits until the cluster
// is stable without the node, which for a master means until a replica has
// been promoted. For a short hang that the cluster should not notice, use
// n.Server().Pause() and Resume() directly, for less than
// Options.NodeTimeout. Resume continues the node.
func (c *Cluster) Pause(ctx context.Context, n *Node) (err error) {
	ctx, end, err := c.begin(ctx, n)
	if err != nil {
		return err
	}
	defer end(&err)
	if err := c.requireLive(n); err != nil {
		return err
	}
	if err := n.srv.Pause(); err != nil {
		return fmt.Errorf("clusterharness: pause %s: %w", n.Addr(), err)
	}
	c.mu.Lock()
	n.paused = true
	c.mu.Unlock()
	return c.waitStable(ctx)
}

// Resume continues a paused node and waits until the cluster is stable with
// it: a master that was failed over meanwhile rejoins as a replica of the
// master that now owns its slots, and resyncs. Resuming a node that is not
// paused only waits for stability.
func (c *Cluster) Resume(ctx context.Context, n *Node) (err error) {
	ctx, end, err := c.begin(ctx, n)
	if err != nil {
		return err
	}
	defer end(&err)
	if err := n.srv.Resume(); err != nil {
		return fmt.Errorf("clusterharness: resume %s: %w", n.Addr(), err)
	}
	c.mu.Lock()
	n.paused = false
	c.mu.Unlock()
	return c.waitStable(ctx)
}

// Partition cuts the node off the cluster's Docker network (container
// backend only; the binary backend returns an error matching
// redisserver.ErrNotSupported): it keeps running but reaches nobody and
// nobody reaches it, the test process included. Like Kill, it waits until
// the cluster is stable without the node, which for a master means until a
// replica has been promoted (on the majority side). Heal reconnects it.
func (c *Cluster) Partition(ctx context.Context, n *Node) (err error) {
	ctx, end, err := c.begin(ctx, n)
	if err != nil {
		return err
	}
	defer end(&err)
	if err := c.requireLive(n); err != nil {
		return err
	}
	if err := n.srv.DisconnectNetwork(ctx); err != nil {
		return fmt.Errorf("clusterharness: partition %s: %w", n.Addr(), err)
	}
	c.mu.Lock()
	n.partitioned = true
	c.mu.Unlock()
	return c.waitStable(ctx)
}

// Heal reconnects a partitioned node to the network and waits until the
// cluster is stable with it: a master that was failed over meanwhile
// rejoins as a replica of the master that now owns its slots. Healing a
// node that is not partitioned only waits for stability.
func (c *Cluster) Heal(ctx context.Context, n *Node) (err error) {
	ctx, end, err := c.begin(ctx, n)
	if err != nil {
		return err
	}
	defer end(&err)
	c.mu.Lock()
	partitioned := n.partitioned
	c.mu.Unlock()
	if partitioned {
		if err := n.srv.ConnectNetwork(ctx); err != nil {
			return fmt.Errorf("clusterharness: heal %s: %w", n.Addr(), err)
		}
		c.mu.Lock()
		n.partitioned = false
		c.mu.Unlock()
	}
	return c.waitStable(ctx)
}
