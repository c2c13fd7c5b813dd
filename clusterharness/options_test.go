package clusterharness

import (
	"strconv"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		in                     Options
		masters, replicas      int
		nodeTimeout, startTime time.Duration
		bad                    bool
	}{
		{name: "zero", masters: 3, replicas: 1, nodeTimeout: time.Second, startTime: DefaultStartTimeout},
		{name: "no replicas", in: Options{Masters: 1, Replicas: -1}, masters: 1, replicas: 0, nodeTimeout: time.Second, startTime: DefaultStartTimeout},
		{name: "set", in: Options{Masters: 5, Replicas: 2, NodeTimeout: 3 * time.Second, StartTimeout: time.Minute},
			masters: 5, replicas: 2, nodeTimeout: 3 * time.Second, startTime: time.Minute},
		{name: "negative masters", in: Options{Masters: -1}, bad: true},
		{name: "too many masters", in: Options{Masters: SlotCount + 1}, bad: true},
		{name: "too many nodes", in: Options{Masters: 3, Replicas: MaxNodes / 3}, bad: true},
		{name: "replicas overflowing the node count", in: Options{Masters: 3, Replicas: 1<<63 - 1}, bad: true},
		{name: "at the node limit", in: Options{Masters: MaxNodes / 2, Replicas: 1}, masters: MaxNodes / 2, replicas: 1, nodeTimeout: time.Second, startTime: DefaultStartTimeout},
		{name: "negative timeout", in: Options{NodeTimeout: -time.Second}, bad: true},
		{name: "sub-millisecond timeout", in: Options{NodeTimeout: time.Microsecond}, bad: true},
		{name: "fixed port", in: Options{Node: redisserver.Options{Port: 7000}}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.in.withDefaults()
			if tc.bad {
				require.ErrorIs(t, err, ErrInvalidOptions)
				_, err = Start(t.Context(), tc.in)
				require.ErrorIs(t, err, ErrInvalidOptions)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.masters, o.Masters)
			assert.Equal(t, tc.replicas, o.Replicas)
			assert.Equal(t, tc.nodeTimeout, o.NodeTimeout)
			assert.Equal(t, tc.startTime, o.StartTimeout)
			assert.True(t, o.Node.Cluster)
			assert.Equal(t, "cluster-node-timeout "+strconv.FormatInt(tc.nodeTimeout.Milliseconds(), 10), o.Node.Config[0])
		})
	}

	// The caller's configuration comes after ours, so it wins.
	in := Options{Node: redisserver.Options{Config: []string{"cluster-allow-replica-migration yes"}}}
	o, err := in.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "cluster-allow-replica-migration yes", o.Node.Config[len(o.Node.Config)-1])
	assert.Len(t, in.Node.Config, 1, "the caller's slice is not changed")
}

func TestAuthArgs(t *testing.T) {
	t.Parallel()
	assert.Nil(t, authArgs(&redisserver.Options{}))
	assert.Equal(t, []any{"AUTH", "pw"}, authArgs(&redisserver.Options{Password: "pw"}))
	assert.Equal(t, []any{"AUTH", "pw"}, authArgs(&redisserver.Options{Password: "pw", AdminUser: "default"}))
	assert.Equal(t, []any{"AUTH", "admin", "apw"}, authArgs(&redisserver.Options{Password: "pw", AdminUser: "admin",
		Users: []redisserver.User{{Name: "admin", Password: "apw"}}}))
}
