package clusterharness

import (
	"context"
	"fmt"
)

// FailoverMode is the variant of CLUSTER FAILOVER that Failover sends.
type FailoverMode string

// The modes.
const (
	// FailoverDefault is a coordinated manual failover: the master stops
	// taking writes, the replica catches up, then takes over. The master
	// must be live.
	FailoverDefault FailoverMode = ""
	// FailoverForce skips the coordination with the master (which may be
	// down) but still needs the votes of a majority of masters.
	FailoverForce FailoverMode = "FORCE"
	// FailoverTakeover needs no one's agreement: the replica takes a new
	// configuration epoch and the slots at once.
	FailoverTakeover FailoverMode = "TAKEOVER"
)

// Failover promotes replica to master with CLUSTER FAILOVER (with FORCE or
// TAKEOVER as mode says) and waits until the cluster is stable with the
// replica as the master of its former master's slots, and that former
// master, if it is live, as its replica.
//
// Redis answers OK to CLUSTER FAILOVER and FORCE from the replica of a
// master without slots, and does nothing: for such a replica, Failover
// returns an error matching ErrWrongRole at once, but for FailoverTakeover,
// which promotes it; its former master, having lost no slots, then stays
// a master (without slots).
func (c *Cluster) Failover(ctx context.Context, replica *Node, mode FailoverMode) (err error) {
	ctx, end, err := c.begin(ctx, replica)
	if err != nil {
		return err
	}
	defer end(&err)
	if err := c.requireLive(replica); err != nil {
		return err
	}
	switch mode {
	case FailoverDefault, FailoverForce, FailoverTakeover:
	default:
		return fmt.Errorf("%w: failover mode %q", ErrInvalidOptions, string(mode))
	}
	c.mu.Lock()
	role, old := replica.role, c.byIDLocked(replica.masterID)
	oldLive := old != nil && old.liveLocked()
	oldSlotless := old != nil && len(old.slots) == 0
	c.mu.Unlock()
	if role != RoleReplica {
		return fmt.Errorf("%w: failover of %s, a %s", ErrWrongRole, replica.Addr(), role)
	}
	if oldSlotless && mode != FailoverTakeover {
		return fmt.Errorf("%w: failover of %s, whose master %s owns no slots (Redis ignores CLUSTER FAILOVER then; FailoverTakeover promotes it)", ErrWrongRole, replica.Addr(), old.Addr())
	}
	args := []any{"CLUSTER", "FAILOVER"}
	if mode != FailoverDefault {
		args = append(args, string(mode))
	}
	if _, err := replica.do(ctx, args...); err != nil {
		return err
	}
	expects := []expectation{expectMaster(replica)}
	if oldLive && !oldSlotless {
		expects = append(expects, expectReplicaOf(old, replica))
	}
	return c.waitStable(ctx, expects...)
}
