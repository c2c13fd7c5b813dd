package redisserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStopWithEndedContext: a Stop whose context has already ended still
// removes the server's directory or container.
func TestStopWithEndedContext(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s, err := Start(testCtx(t), Options{Backend: be})
		require.NoError(t, err)
		dir, id := s.Dir(), s.ContainerID()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.NoError(t, s.Stop(ctx))
		assert.False(t, s.Running())
		switch be {
		case BackendBinary:
			assert.NoDirExists(t, dir)
		case BackendContainer:
			assertNoContainer(t, id)
		}
	})
}

// TestNetworkRemoveWithEndedContext: the same for a network.
func TestNetworkRemoveWithEndedContext(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	n, err := NewNetwork(testCtx(t))
	require.NoError(t, err)
	id := n.ID()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, n.Remove(ctx))
	cli, err := acquireDocker(testCtx(t))
	require.NoError(t, err)
	defer releaseDocker()
	_, err = cli.NetworkInspect(testCtx(t), id, client.NetworkInspectOptions{})
	assert.True(t, isNotFound(err), "network %s still there (%v)", id, err)
}

// failingBackend is a backend whose close fails a given number of times.
type failingBackend struct {
	closeFailures int // how many calls of close fail yet
	closes        int // calls of close
}

func (b *failingBackend) prepare(context.Context) (string, error) { return "127.0.0.1", nil }
func (b *failingBackend) start(context.Context, int) (<-chan struct{}, error) {
	return nil, errors.New("not started")
}
func (b *failingBackend) discard(context.Context) error             { return nil }
func (b *failingBackend) stop(context.Context, time.Duration) error { return nil }
func (b *failingBackend) kill(context.Context) error                { return nil }
func (b *failingBackend) pause(context.Context) error               { return nil }
func (b *failingBackend) resume(context.Context) error              { return nil }
func (b *failingBackend) alive() bool                               { return false }
func (b *failingBackend) close(context.Context) error {
	b.closes++
	if b.closeFailures > 0 {
		b.closeFailures--
		return errors.New("removal failed")
	}
	return nil
}

// TestStopRetriesRemoval: when Stop could not remove what the server owns,
// the server is stopped for every other method, and the next Stop tries the
// removal again.
func TestStopRetriesRemoval(t *testing.T) {
	t.Parallel()
	fb := &failingBackend{closeFailures: 1}
	s := &Server{backend: BackendBinary, logs: newLogBuffer(0, nil), b: fb, state: stateRunning}
	require.Error(t, s.Stop(testCtx(t)))
	assert.ErrorIs(t, s.Restart(testCtx(t)), ErrStopped)
	assert.ErrorIs(t, s.Kill(), ErrStopped)
	assert.ErrorIs(t, s.Pause(), ErrStopped)
	assert.ErrorIs(t, s.Resume(), ErrStopped)
	assert.False(t, s.Running())
	require.NoError(t, s.Stop(testCtx(t)), "the retry removes it")
	assert.Equal(t, 2, fb.closes)
	require.NoError(t, s.Stop(testCtx(t)))
	assert.Equal(t, 2, fb.closes, "stopped for good")
}
