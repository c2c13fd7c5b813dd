package clusterharness

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests: every failure of an operation leaves a cluster the test
// can get back to a usable state.

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v for %s", timeout, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		}
	}
}

// setMigrate allows or forbids MIGRATE to the harness's connections on n
// (the default user), so that a migration fails after its SETSLOT steps.
func setMigrate(t testing.TB, n *Node, allowed bool) {
	t.Helper()
	rule := "-migrate"
	if allowed {
		rule = "+migrate"
	}
	_, err := n.Server().Do(opCtx(t), "ACL", "SETUSER", "default", rule)
	require.NoError(t, err)
}

// countKeys returns how many keys n holds in slot.
func countKeys(t testing.TB, n *Node, slot int) int64 {
	t.Helper()
	v, err := n.Server().Do(opCtx(t), "CLUSTER", "COUNTKEYSINSLOT", slot)
	require.NoError(t, err)
	return v.Int
}

// selfLine returns n's own entry of CLUSTER NODES.
func selfLine(t testing.TB, n *Node) *entry {
	t.Helper()
	v, err := n.Server().Do(opCtx(t), "CLUSTER", "NODES")
	require.NoError(t, err)
	entries, err := parseClusterNodes(v.Text())
	require.NoError(t, err)
	for _, e := range entries {
		if e.myself {
			return e
		}
	}
	t.Fatal("CLUSTER NODES has no myself line")
	return nil
}

// shortCtx returns a context that ends after d.
func shortCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestMigrateSlotsFailed: a MigrateSlots that fails after its slots were set
// migrating is not stable, and can be resumed (the same MigrateSlots
// again) or taken over (BeginMigration with the same arguments) and
// aborted.
func TestMigrateSlotsFailed(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{Masters: 2, Replicas: -1})
	from, to := c.Masters()[0], c.Masters()[1]
	const slot = 42
	keys := fill(t, c, slot, 150)

	setMigrate(t, from, false)
	_, err := c.MigrateSlots(opCtx(t), from, to, []int{slot})
	require.Error(t, err, "MIGRATE is forbidden")
	err = c.WaitStable(shortCtx(t, 3*time.Second)) // time for a whole check, on a loaded machine too
	require.ErrorIs(t, err, ErrNotStable, "the slot is left migrating")
	assert.Contains(t, err.Error(), fmt.Sprintf("slots %d: a MigrateSlots", slot))
	_, err = c.MigrateSlots(opCtx(t), from, to, []int{slot})
	require.Error(t, err, "MIGRATE is still forbidden")
	require.NotErrorIs(t, err, ErrInvalidSlot, "a retry resumes the migration")

	setMigrate(t, from, true)
	moved, err := c.MigrateSlots(opCtx(t), from, to, []int{slot})
	require.NoError(t, err, "the retry finishes the migration")
	assert.Equal(t, len(keys), moved)
	assert.Same(t, to, c.SlotOwner(slot))
	assert.EqualValues(t, len(keys), countKeys(t, to, slot))
	require.NoError(t, c.WaitStable(opCtx(t)))

	// The same failure towards a new empty master, taken over and aborted:
	// the new master can be removed again.
	empty, err := c.AddNode(opCtx(t), nil)
	require.NoError(t, err)
	const slot2 = 43
	fill(t, c, slot2, 5)
	setMigrate(t, from, false)
	_, err = c.MigrateSlots(opCtx(t), from, empty, []int{slot2})
	require.Error(t, err)
	setMigrate(t, from, true)
	require.ErrorIs(t, c.RemoveNode(opCtx(t), empty), ErrNodeInUse)
	_, err = c.BeginMigration(opCtx(t), from, empty, []int{slot2, 44})
	require.ErrorIs(t, err, ErrInvalidSlot, "other slots than the open migration's")
	m, err := c.BeginMigration(opCtx(t), from, empty, []int{slot2})
	require.NoError(t, err, "the open migration")
	assert.Equal(t, []int{slot2}, m.Slots())
	again, err := c.BeginMigration(opCtx(t), from, empty, []int{slot2, slot2})
	require.NoError(t, err)
	assert.Same(t, m, again)
	require.NoError(t, c.WaitStable(opCtx(t)), "a migration the test holds is stable")
	require.NoError(t, m.Abort(opCtx(t)))
	assert.Same(t, from, c.SlotOwner(slot2))
	assert.EqualValues(t, 5, countKeys(t, from, slot2))
	require.NoError(t, c.RemoveNode(opCtx(t), empty))
	cliCheck(t, c, "recovered")
}

// TestMigrationAbort: keys moved before Abort stay on the target; a later
// migration of the slot brings them together again, the source's copy
// winning.
func TestMigrationAbort(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{Masters: 2, Replicas: -1})
	from, to := c.Masters()[0], c.Masters()[1]
	const slot = 7
	keys := fill(t, c, slot, 10)
	m, err := c.BeginMigration(opCtx(t), from, to, []int{slot})
	require.NoError(t, err)
	n, err := m.MoveKeys(opCtx(t), keys[0], keys[1])
	require.NoError(t, err)
	require.Equal(t, 2, n)

	require.NoError(t, m.Abort(opCtx(t)))
	assert.Same(t, from, c.SlotOwner(slot))
	assert.Empty(t, selfLine(t, from).migrating)
	assert.Empty(t, selfLine(t, to).importing)
	assert.Equal(t, "", redirect(t, from, keys[0]), "the source answers for the slot again")
	assert.EqualValues(t, 8, countKeys(t, from, slot))
	assert.EqualValues(t, 2, countKeys(t, to, slot), "moved keys stay on the target")
	_, err = m.Finish(opCtx(t))
	require.ErrorIs(t, err, ErrMigrationFinished)
	_, err = m.MoveKeys(opCtx(t))
	require.ErrorIs(t, err, ErrMigrationFinished)
	require.NoError(t, m.Abort(opCtx(t)), "aborting twice")
	require.NoError(t, c.WaitStable(opCtx(t)))

	// A key written again on the source meanwhile is also on the target.
	_, err = from.Server().Do(opCtx(t), "SET", keys[0], "new")
	require.NoError(t, err)
	moved, err := c.MigrateSlots(opCtx(t), from, to, []int{slot})
	require.NoError(t, err)
	assert.Equal(t, 9, moved)
	assert.EqualValues(t, 10, countKeys(t, to, slot))
	v, err := to.Server().Do(opCtx(t), "GET", keys[0])
	require.NoError(t, err)
	assert.Equal(t, "new", v.Text())
}

// TestMigrationSourceKilled: a migration whose source was killed (and failed
// over) cannot finish; Abort gives the slot back to its new owner, and it
// can be migrated from there.
func TestMigrationSourceKilled(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{})
	from, replica := masterWithReplica(t, c)
	var to *Node
	for _, n := range c.Masters() {
		if n != from {
			to = n
			break
		}
	}
	slot := from.Slots()[0].Start
	keys := fill(t, c, slot, 10)
	m, err := c.BeginMigration(opCtx(t), from, to, []int{slot})
	require.NoError(t, err)
	_, err = m.MoveKeys(opCtx(t), keys[0], keys[1])
	require.NoError(t, err)

	// The target, importing the slot, ignores its new owner (Redis does):
	// not stable until the migration is aborted.
	err = c.Kill(shortCtx(t, 3*time.Second), from) // time for a whole check, on a loaded machine too
	require.ErrorIs(t, err, ErrNotStable)
	assert.Contains(t, err.Error(), "no longer a live master: abort the migration")
	_, err = m.Finish(opCtx(t))
	require.ErrorIs(t, err, ErrNodeNotLive)
	require.NoError(t, m.Abort(opCtx(t)))
	assert.Same(t, replica, c.SlotOwner(slot))
	assert.Empty(t, selfLine(t, to).importing)
	moved, err := c.MigrateSlots(opCtx(t), replica, to, []int{slot})
	require.NoError(t, err)
	assert.Equal(t, 8, moved)
	assert.EqualValues(t, 10, countKeys(t, to, slot))
	require.NoError(t, c.RemoveNode(opCtx(t), from), "in no migration any more")
}

// TestOperationWaitHonoursContext: an operation waiting for its turn gives
// up when its context ends, and Stop ends the operation in flight.
func TestOperationWaitHonoursContext(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{Masters: 3, Replicas: -1})
	m := c.Masters()[0]
	killed := make(chan error, 1)
	go func() { killed <- c.Kill(shortCtx(t, 10*time.Second), m) }() // no replica: never stable
	waitFor(t, 10*time.Second, "Kill to run", func() bool { return m.State() == StateDown })

	start := time.Now()
	err := c.WaitStable(shortCtx(t, 200*time.Millisecond))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second, "WaitStable waited for Kill's turn to end")

	start = time.Now()
	require.NoError(t, c.Stop(opCtx(t)))
	assert.Less(t, time.Since(start), 5*time.Second, "Stop waited for Kill's context")
	require.ErrorIs(t, <-killed, ErrStopped)
	require.ErrorIs(t, c.WaitStable(opCtx(t)), ErrStopped)
}

// TestFailoverOfSlotlessMaster: Redis ignores CLUSTER FAILOVER (and FORCE)
// from a replica of a master without slots; Failover says so at once.
// TAKEOVER works, and the old master stays an empty master.
func TestFailoverOfSlotlessMaster(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{Masters: 2, Replicas: -1})
	empty, err := c.AddNode(opCtx(t), nil)
	require.NoError(t, err)
	r, err := c.AddNode(opCtx(t), empty)
	require.NoError(t, err)
	for _, mode := range []FailoverMode{FailoverDefault, FailoverForce} {
		start := time.Now()
		err := c.Failover(shortCtx(t, 10*time.Second), r, mode)
		require.ErrorIs(t, err, ErrWrongRole, "mode %q", mode)
		assert.Less(t, time.Since(start), 2*time.Second)
	}
	require.NoError(t, c.Failover(opCtx(t), r, FailoverTakeover))
	assert.Equal(t, RoleMaster, r.Role())
	assert.Equal(t, RoleMaster, empty.Role())
	assert.Empty(t, empty.Slots())
}

// TestStopWithEndedContext: Stop with a context that has ended still
// removes every container and the network.
func TestStopWithEndedContext(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker command is needed to see what Stop left")
	}
	c := startCluster(t, redisserver.BackendContainer, Options{Masters: 1, Replicas: -1})
	n := c.Nodes()[0]
	id, nw := n.Server().ContainerID(), n.Server().Network()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, c.Stop(ctx))
	for _, args := range [][]string{{"container", "inspect", id}, {"network", "inspect", nw}} {
		out, err := exec.CommandContext(opCtx(t), "docker", args...).CombinedOutput()
		assert.Error(t, err, "docker %v: still there: %s", args, out)
	}
}
