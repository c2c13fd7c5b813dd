package redisserver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPickPort(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for range 50 {
		p, err := pickPort("127.0.0.1", true)
		require.NoError(t, err)
		assert.False(t, seen[p], "port %d handed out twice", p)
		assert.False(t, seen[p+ClusterBusPortOffset])
		assert.LessOrEqual(t, p+ClusterBusPortOffset, 65535)
		seen[p], seen[p+ClusterBusPortOffset] = true, true
		// (Whether they are still free now is up to the other processes of
		// the machine: that race is what Start's retries are for.)
	}
	for p := range seen {
		releasePort(p, false)
	}
	// A reserved port is not reserved again, in either role. (These ports
	// are below Linux's ephemeral range, which pickPort draws from.)
	require.True(t, reservePort(20001, true))
	assert.False(t, reservePort(20001, false))
	assert.False(t, reservePort(30001, false), "the bus port is taken")
	assert.False(t, reservePort(10001, true), "its bus port would be the server port")
	releasePort(20001, true)
	assert.True(t, reservePort(30001, false))
	releasePort(30001, false)
}
