package client

import (
	"context"
	"errors"
	"sync"

	"github.com/justredis/justredis/resp"
)

// Future is the pending reply of a command sent with Database.Command or
// queued in a transaction. It settles once; every Reply after that returns
// the same result. Its methods are safe for concurrent use: one Reply waits
// for the reply (and settles the Future with its ctx's error if that ends
// first); concurrent ones wait for that, each bounded by its own ctx.
type Future struct {
	dec  DecodeFunc
	tx   *Multi        // set for a transaction's futures: settled by Exec
	done chan struct{} // closed once settled

	mu    sync.Mutex
	owner bool       // guarded by mu: a Reply is waiting for the reply
	value resp.Value // set before done is closed
	err   error      // set before done is closed
	call  call       // the request in flight; used by the owner only

	// A blocking command runs on a dedicated connection in its own
	// goroutine, which settles the future; cancel stops it.
	cancel context.CancelCauseFunc
}

func newFuture(dec DecodeFunc) *Future {
	return &Future{dec: dec, done: make(chan struct{})}
}

// Reply waits for the reply (calling the future in Python justredis). A
// server error reply is returned as an error, as by Do. If ctx ends first,
// the Future settles with that error (NotExecuted tells whether the command
// never left) and the reply, when it comes, is dropped; a Reply that is not
// the one waiting for the reply just returns ctx's error.
func (f *Future) Reply(ctx context.Context) (resp.Value, error) {
	select {
	case <-f.done:
		return f.value, f.err
	default:
	}
	if f.tx != nil {
		return resp.Value{}, ErrTxNotExecuted // settled by Exec, which has not run
	}
	f.mu.Lock()
	if f.owner {
		f.mu.Unlock()
		select {
		case <-f.done:
			return f.value, f.err
		case <-ctx.Done():
			return resp.Value{}, ctx.Err()
		}
	}
	f.owner = true
	f.mu.Unlock()
	if f.cancel != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			f.cancel(ctx.Err()) // closes its dedicated connection; it may have run
			<-f.done
		}
		return f.value, f.err
	}
	v, err := f.call.result(ctx)
	f.call = call{}
	f.settle(v, err)
	return v, err
}

// Result is Reply decoded by the handle's decoder.
func (f *Future) Result(ctx context.Context) (any, error) {
	v, err := f.Reply(ctx)
	if err != nil {
		return nil, err
	}
	return f.dec(v)
}

// settle records the result; only the first call counts.
func (f *Future) settle(v resp.Value, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.done:
		return
	default:
	}
	f.value, f.err = v, err
	close(f.done)
}

// startBlocking runs a blocking command for the future in the background,
// until it completes, a Reply's ctx ends, or the Mux closes.
func (f *Future) startBlocking(m *Mux, r *request, pin *Node) {
	ctx, cancel := context.WithCancelCause(m.ctx)
	f.cancel = cancel
	ok := m.spawn(func() {
		defer cancel(nil)
		v, err := m.doBlocking(ctx, r, pin)
		putRequest(r)
		if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
			var re *RequestError
			if errors.As(err, &re) && errors.Is(re.Err, context.Canceled) {
				re.Err = cause // the Reply's deadline, say, not a bare "canceled"
			}
		}
		f.settle(v, err)
	})
	if !ok {
		putRequest(r)
		f.settle(resp.Value{}, &RequestError{Exec: NotSent, Err: ErrClosed})
	}
}
