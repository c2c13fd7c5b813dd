package clusterharness

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSharedLogWriter gives every node one bytes.Buffer, not safe for
// concurrent use, as Node.Log: the nodes start (and log) at the same time,
// and the harness must let one write through at a time (-race tells), each
// a whole line.
func TestSharedLogWriter(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	c := startCluster(t, redisserver.BackendBinary, Options{Masters: 3, Replicas: -1, Node: redisserver.Options{Log: &logs}})
	nodes := c.Nodes()
	require.Len(t, nodes, 3)
	// Stop returns once every node's log is drained.
	require.NoError(t, c.Stop(opCtx(t)))

	var want []string
	for _, n := range nodes {
		want = append(want, strings.Split(strings.TrimSuffix(n.Server().Logs(), "\n"), "\n")...)
	}
	got := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	slices.Sort(want)
	slices.Sort(got)
	assert.Equal(t, want, got, "the shared log is not the nodes' lines")
	assert.Equal(t, len(nodes), strings.Count(logs.String(), "Ready to accept connections"))
}

// TestStartErrorHasLogTails starts a cluster that never becomes stable (the
// replica's masterauth is wrong, so its link to the master stays down):
// Start fails at the stability wait and stops the nodes, but the error
// keeps the end of each node's log, which says why.
func TestStartErrorHasLogTails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Masters: 1, Replicas: 1, Node: redisserver.Options{
		Backend:  redisserver.BackendBinary,
		Password: "pw",
		Config:   []string{"masterauth wrong"},
	}})
	if c != nil {
		t.Cleanup(func() { assert.NoError(t, c.Stop(context.Background())) })
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrNotStable)
	assert.Contains(t, err.Error(), "Unable to AUTH to MASTER", "the replica's log tail is not in the error")

	var serr *StartError
	require.ErrorAs(t, err, &serr)
	assert.Len(t, serr.LogTails, 2)
	for addr, tail := range serr.LogTails {
		assert.NotEmpty(t, tail, "log tail of %s", addr)
		assert.Contains(t, err.Error(), "node "+addr+": log (last lines):")
	}
}
