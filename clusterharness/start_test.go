package clusterharness

import (
	"slices"
	"testing"

	"github.com/justredis/justredis/redisserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStart(t *testing.T) {
	t.Parallel()
	for _, be := range []redisserver.Backend{redisserver.BackendBinary, redisserver.BackendContainer} {
		t.Run(be.String(), func(t *testing.T) {
			t.Parallel()
			if be == redisserver.BackendContainer {
				requireDocker(t)
			}
			c := startCluster(t, be, Options{})
			masters, replicas := c.Masters(), c.Replicas()
			require.Len(t, masters, DefaultMasters)
			require.Len(t, replicas, DefaultMasters*DefaultReplicas)
			assert.Len(t, c.Addrs(), 6)
			assert.Len(t, c.Nodes(), 6)
			requireCoverage(t, c)
			for _, m := range masters {
				assert.Equal(t, RoleMaster, m.Role())
				assert.Len(t, c.ReplicasOf(m), 1, "replicas of %s", m)
				assert.Nil(t, m.Master())
				assert.Equal(t, StateUp, m.State())
				assert.Equal(t, be, m.Server().Backend())
			}
			for _, r := range replicas {
				assert.Equal(t, RoleReplica, r.Role())
				assert.True(t, slices.Contains(masters, r.Master()), "master of %s", r)
				assert.Empty(t, r.Slots())
			}
			// The nodes agree with our slot function.
			for _, key := range cliKeys("slot", 200) {
				v, err := masters[0].do(opCtx(t), "CLUSTER", "KEYSLOT", key)
				require.NoError(t, err)
				require.Equal(t, int64(KeySlot(key)), v.Int, key)
				require.Same(t, c.SlotOwner(KeySlot(key)), ownerOf(c, KeySlot(key)))
			}
			cliCheck(t, c, "start")
			require.NoError(t, c.WaitStable(opCtx(t)))
		})
	}
}

// ownerOf finds the owner of slot by hand.
func ownerOf(c *Cluster, slot int) *Node {
	for _, m := range c.Masters() {
		for _, r := range m.Slots() {
			if r.Contains(slot) {
				return m
			}
		}
	}
	return nil
}
