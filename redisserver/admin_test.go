package redisserver

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// pastDeadline is a context whose deadline has passed but whose timer has
// not yet fired: the moment in which a dial's own deadline reports an i/o
// timeout while ctx.Err() is still nil.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

func TestCtxErr(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	other := errors.New("connection refused")

	err := ctxErr(pastDeadline{context.Background()}, timeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a timeout at the deadline is the context's")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "and keeps its cause")
	assert.NotErrorIs(t, ctxErr(pastDeadline{context.Background()}, other), context.DeadlineExceeded,
		"only a timeout is the deadline's doing")

	future, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	assert.NotErrorIs(t, ctxErr(future, timeout), context.DeadlineExceeded, "a deadline not reached")

	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	err = ctxErr(canceled, other)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, other)
	assert.Equal(t, context.Canceled, ctxErr(canceled, context.Canceled), "not wrapped twice")
}
