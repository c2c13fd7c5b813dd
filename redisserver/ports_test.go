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
	// are in Linux's ephemeral range, which pickPort keeps out of.)
	require.True(t, reservePort(40001, true))
	assert.False(t, reservePort(40001, false))
	assert.False(t, reservePort(50001, false), "the bus port is taken")
	assert.False(t, reservePort(30001, true), "its bus port would be the server port")
	releasePort(40001, true)
	assert.True(t, reservePort(50001, false))
	releasePort(50001, false)
}

// TestPickPortBelowEphemeralRange: ports, bus ports included, are chosen
// below the kernel's ephemeral range, so that no outgoing connection gets a
// stopped server's port as its local port (its TIME_WAIT would block
// Restart).
func TestPickPortBelowEphemeralRange(t *testing.T) {
	t.Parallel()
	low := ephemeralPortLow()
	if _, _, ok := portWindow(low, true); !ok {
		t.Skipf("no room below the ephemeral range (it starts at %d)", low)
	}
	for _, cluster := range []bool{false, true} {
		for range 20 {
			p, err := pickPort("127.0.0.1", cluster)
			require.NoError(t, err)
			releasePort(p, cluster)
			assert.GreaterOrEqual(t, p, minPickedPort)
			assert.Less(t, p, low, "port in the ephemeral range")
			if cluster {
				assert.Less(t, p+ClusterBusPortOffset, low, "bus port in the ephemeral range")
			}
		}
	}
}

func TestPortWindow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text    string
		cluster bool
		lo, hi  int
		ok      bool
	}{
		{"32768\t60999\n", false, minPickedPort, 32768, true},
		{"32768\t60999\n", true, minPickedPort, 22768, true},
		{"49152 65535", true, minPickedPort, 39152, true},
		// Too little room below the range: the kernel chooses.
		{"1024\t65535\n", false, 0, 0, false},
		{"20000\t65535\n", true, 0, 0, false},
		{"20000\t65535\n", false, minPickedPort, 20000, true},
		// Unreadable.
		{"", false, 0, 0, false},
		{"x y", false, 0, 0, false},
	} {
		lo, hi, ok := portWindow(parsePortRangeLow(tt.text), tt.cluster)
		assert.Equal(t, []any{tt.lo, tt.hi, tt.ok}, []any{lo, hi, ok}, "%q cluster=%v", tt.text, tt.cluster)
	}
}
