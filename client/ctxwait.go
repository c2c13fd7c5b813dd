package client

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
)

// Waiting for a reply or the end of the caller's context.
//
// The plain way, a select on the request's done channel and ctx.Done(),
// enqueues every waiting caller on the context's Done channel. When many
// goroutines share one context (workers under a common shutdown context),
// they all take that one channel's lock twice per command: at 2048
// goroutines that select was a third of the client's CPU. So a context
// seen often gets a waiter list instead: waiting callers link their request
// into one of a few sharded lists and wait on the request's own channel,
// and one context.AfterFunc per context wakes them all when it ends.
//
// Contexts used once or a few times (per-call contexts) keep the select:
// registering an AfterFunc costs allocations and a lock of the context. A
// lossy table counts how often each context is seen in a row; one seen
// sharedAfter times gets a waiter list, and at most maxWaitLists exist at
// once (a list ends when its context does, or at Close).
//
// The protocol keeps the request state machine of request.go intact. The
// done channel has room for two signals: the completion's (sent once the
// request reaches stDone) and the list's (sent while the request is linked,
// under its shard's lock, which also unlinks it). A waking caller locks its
// shard: if it is still linked, the signal was the completion's; if not, its
// context ended and it abandons the request as the select path does, or,
// when the request completed meanwhile, takes the second signal.

const (
	waitShards   = 16  // lists per context: callers on different shards do not contend
	sharedAfter  = 64  // sightings in a row before a context gets waiter lists
	maxWaitLists = 64  // contexts with waiter lists at once
	sightSlots   = 256 // the lossy table of recent contexts
)

// waitLists are the waiter lists of one context.
type waitLists struct {
	done   <-chan struct{} // the context's Done: the key (and it stays alive with w)
	fired  atomic.Bool     // the context ended: the lists are being or have been woken
	stop   func() bool     // unregisters the AfterFunc
	shards [waitShards]waitShard
}

// waitShard is one list of waiting requests, linked through request.wnext
// and wprev.
type waitShard struct {
	mu    sync.Mutex
	fired bool     // guarded by mu: the list was woken; wait the plain way
	head  *request // guarded by mu
	_     [40]byte // one shard per cache line
}

// sighting is a slot of the lossy table: the last context seen there and
// how many times in a row; and the waiter lists last found for a context of
// this slot, so that a caller of a shared context finds them with two loads
// rather than a sync.Map lookup (hashing an interface: 5% of the client's
// CPU at 2048 goroutines).
type sighting struct {
	lists atomic.Pointer[waitLists]
	done  atomic.Value // <-chan struct{}
	n     atomic.Int32
}

// sighting returns the slot of the lossy table for done.
func (m *Mux) sighting(done <-chan struct{}) *sighting {
	return &m.sightings[reflect.ValueOf(done).Pointer()/64%sightSlots]
}

// shardSeq spreads requests over the shards as the pool makes them.
var shardSeq atomic.Uint32

// waitLists returns the waiter lists for ctx (whose Done is done), creating
// them once the context has been seen often enough; nil means wait with a
// select.
func (m *Mux) waitLists(ctx context.Context, done <-chan struct{}) *waitLists {
	s := m.sighting(done)
	if w := s.lists.Load(); w != nil && w.done == done && !w.fired.Load() {
		return w
	}
	if v, ok := m.waiters.Load(done); ok {
		w := v.(*waitLists)
		s.lists.Store(w)
		if w.fired.Load() {
			// Ended meanwhile: its drop may have missed this store (fired
			// is set before the drop).
			s.lists.CompareAndSwap(w, nil)
		}
		return w
	}
	if last, _ := s.done.Load().(<-chan struct{}); last != done {
		s.done.Store(done)
		s.n.Store(1)
		return nil
	}
	if s.n.Add(1) < sharedAfter || m.nwaiters.Load() >= maxWaitLists || m.closed.Load() || ctx.Err() != nil {
		return nil
	}
	w := &waitLists{done: done}
	w.stop = context.AfterFunc(ctx, func() {
		w.fired.Store(true)
		m.dropWaitLists(done, w)
		w.wake()
	})
	if v, loaded := m.waiters.LoadOrStore(done, w); loaded {
		w.stop()
		return v.(*waitLists)
	}
	m.nwaiters.Add(1)
	m.listsMade.Add(1)
	s.lists.Store(w)
	if w.fired.Load() || m.closed.Load() {
		// Ended (or closed) while being stored: its AfterFunc may have
		// missed the entry.
		m.dropWaitLists(done, w)
	}
	return w
}

// dropWaitLists forgets w, if it is still done's.
func (m *Mux) dropWaitLists(done <-chan struct{}, w *waitLists) {
	m.sighting(done).lists.CompareAndSwap(w, nil)
	if m.waiters.CompareAndDelete(done, w) {
		m.nwaiters.Add(-1)
	}
}

// closeWaitLists unregisters every context's AfterFunc (Close): waiting
// callers are woken by their requests' completion.
func (m *Mux) closeWaitLists() {
	m.waiters.Range(func(k, v any) bool {
		w := v.(*waitLists)
		w.stop()
		m.dropWaitLists(k.(<-chan struct{}), w)
		return true
	})
}

// wake signals every linked request: the context ended.
func (w *waitLists) wake() {
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		sh.fired = true
		for r := sh.head; r != nil; {
			next := r.wnext
			r.wnext, r.wprev, r.wlinked = nil, nil, false
			r.done <- struct{}{} // room for it: see the protocol above
			r = next
		}
		sh.head = nil
		sh.mu.Unlock()
	}
}

// link puts r in the waiter list of ctx (whose Done is done) for the
// caller to wait on r.done, and returns the list's shard; nil, having
// linked nothing, when ctx has no lists (wait with a select).
// (The receive itself is the caller's, not a call further down: see
// call.wait.)
func (m *Mux) link(ctx context.Context, done <-chan struct{}, r *request) *waitShard {
	if w := m.waitLists(ctx, done); w != nil {
		return w.link(r)
	}
	return nil
}

// link puts r in its shard's list and returns the shard; nil, having linked
// nothing, when the lists were woken already: the caller waits the plain way
// (and finds ctx ended).
func (w *waitLists) link(r *request) *waitShard {
	sh := &w.shards[r.wshard]
	sh.mu.Lock()
	if sh.fired {
		sh.mu.Unlock()
		return nil
	}
	r.wprev, r.wnext, r.wlinked = nil, sh.head, true
	if sh.head != nil {
		sh.head.wprev = r
	}
	sh.head = r
	sh.mu.Unlock()
	return sh
}

// woken finishes a wait on a linked r once a signal came, and reports
// whether r was abandoned, as request.giveUp does. A signal to a linked r
// is its completion's: r is unlinked here. An unlinked r was woken by its
// list (the context ended): it is given up, unless it completed meanwhile.
func (sh *waitShard) woken(r *request) (abandoned bool, exec Execution) {
	sh.mu.Lock()
	woken := !r.wlinked
	if !woken {
		if r.wprev != nil {
			r.wprev.wnext = r.wnext
		} else {
			sh.head = r.wnext
		}
		if r.wnext != nil {
			r.wnext.wprev = r.wprev
		}
		r.wnext, r.wprev, r.wlinked = nil, nil, false
	}
	sh.mu.Unlock()
	if !woken {
		return false, 0 // the completion's signal
	}
	return r.giveUp()
}
