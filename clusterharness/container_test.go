package clusterharness

import (
	"context"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestContainer runs what differs with containers: a killed and restarted
// master (nodes.conf lives in the container), and a network partition.
// Everything else is the same code on either backend.
func TestContainer(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	c := startCluster(t, redisserver.BackendContainer, Options{})
	nw := c.Nodes()[0].Server().Network()
	assert.NotEqual(t, "bridge", nw, "a network of the cluster's own")
	for _, n := range c.Nodes() {
		assert.Equal(t, nw, n.Server().Network())
	}
	testKillRestart(t, c)

	// A partitioned master is failed over by the majority side; healed, it
	// rejoins as a replica.
	master, replica := masterWithReplica(t, c)
	require.NoError(t, c.Partition(opCtx(t), master))
	assert.Equal(t, StatePartitioned, master.State())
	assert.Equal(t, RoleMaster, replica.Role())
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err := master.Server().Do(ctx, "PING")
	cancel()
	assert.Error(t, err, "a partitioned node answered")
	cliCheck(t, c, "partition")

	require.NoError(t, c.Heal(opCtx(t), master))
	assert.Equal(t, StateUp, master.State())
	assert.Same(t, replica, master.Master())
	cliCheck(t, c, "heal")
	require.NoError(t, c.Heal(opCtx(t), master), "healing a healed node")
}
