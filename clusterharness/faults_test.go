package clusterharness

import (
	"testing"

	"github.com/justredis/justredis/redisserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKillRestart kills a master (its replica is promoted), restarts it (it
// rejoins as a replica of the promoted one), then does the same to a
// replica.
func TestKillRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{})
	testKillRestart(t, c)
}

func testKillRestart(t *testing.T, c *Cluster) {
	t.Helper()
	master, replica := masterWithReplica(t, c)
	slots := master.Slots()
	require.NoError(t, c.Kill(opCtx(t), master))
	assert.Equal(t, StateDown, master.State())
	assert.Equal(t, RoleMaster, replica.Role(), "the replica was promoted")
	assert.Equal(t, slots, replica.Slots())
	assert.NotContains(t, c.Addrs(), master.Addr())
	requireCoverage(t, c)
	cliCheck(t, c, "kill-master")

	require.NoError(t, c.Restart(opCtx(t), master))
	id, err := master.Server().Do(opCtx(t), "CLUSTER", "MYID")
	require.NoError(t, err)
	assert.Equal(t, master.ID(), id.Text(), "nodes.conf survived the restart")
	assert.Equal(t, StateUp, master.State())
	assert.Equal(t, RoleReplica, master.Role(), "the old master rejoined as a replica")
	assert.Same(t, replica, master.Master())
	cliCheck(t, c, "restart-master")

	// A replica: the cluster is stable without it at once.
	r := c.ReplicasOf(replica)[0]
	require.NoError(t, c.Kill(opCtx(t), r))
	assert.Empty(t, c.ReplicasOf(replica))
	cliCheck(t, c, "kill-replica")
	require.NoError(t, c.Restart(opCtx(t), r))
	assert.Same(t, replica, r.Master())
	cliCheck(t, c, "restart-replica")

	// Restarting a running replica (SIGTERM, then the same port).
	require.NoError(t, c.Restart(opCtx(t), r))
	assert.Same(t, replica, r.Master())
	cliCheck(t, c, "restart-running-replica")
}

// TestPauseResume freezes a master until it is failed over, and resumes it.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{})
	master, replica := masterWithReplica(t, c)
	require.NoError(t, c.Pause(opCtx(t), master))
	assert.Equal(t, StatePaused, master.State())
	assert.Equal(t, RoleMaster, replica.Role())
	cliCheck(t, c, "pause-master")

	require.NoError(t, c.Resume(opCtx(t), master))
	assert.Equal(t, StateUp, master.State())
	assert.Same(t, replica, master.Master())
	cliCheck(t, c, "resume-master")

	// Pausing a paused node's neighbour replica and restarting it while
	// paused.
	r := c.ReplicasOf(replica)[0]
	require.NoError(t, c.Pause(opCtx(t), r))
	require.ErrorIs(t, c.Pause(opCtx(t), r), ErrNodeNotLive)
	require.NoError(t, c.Restart(opCtx(t), r))
	assert.Equal(t, StateUp, r.State())
	cliCheck(t, c, "restart-paused")
}

// TestFailover promotes replicas with each mode of CLUSTER FAILOVER, one
// after the other on one cluster.
func TestFailover(t *testing.T) {
	t.Parallel()
	c := startCluster(t, redisserver.BackendBinary, Options{})
	for _, mode := range []FailoverMode{FailoverDefault, FailoverForce, FailoverTakeover} {
		t.Run("mode="+string(mode), func(t *testing.T) {
			master, replica := masterWithReplica(t, c)
			slots := master.Slots()
			require.NoError(t, c.Failover(opCtx(t), replica, mode))
			assert.Equal(t, RoleMaster, replica.Role())
			assert.Equal(t, slots, replica.Slots())
			assert.Equal(t, RoleReplica, master.Role())
			assert.Same(t, replica, master.Master())
			requireCoverage(t, c)
			cliCheck(t, c, "failover-"+string(mode))
		})
	}
	// A master cannot be failed over to itself.
	require.ErrorIs(t, c.Failover(opCtx(t), c.Masters()[0], FailoverDefault), ErrWrongRole)
	require.ErrorIs(t, c.Failover(opCtx(t), c.Replicas()[0], "SOON"), ErrInvalidOptions)
}
