package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
)

// linked counts the requests waiting in w's lists.
func (w *waitLists) linked() int {
	n := 0
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for r := sh.head; r != nil; r = r.wnext {
			n++
		}
		sh.mu.Unlock()
	}
	return n
}

// listsOf returns the waiter lists m keeps for ctx, or nil.
func listsOf(m *Mux, ctx context.Context) *waitLists {
	if v, ok := m.waiters.Load(ctx.Done()); ok {
		return v.(*waitLists)
	}
	return nil
}

// A context shared by many callers gets waiter lists; when it ends, every
// caller waiting in them returns at once with its error (MaybeExecuted if
// its command was written, NotExecuted if the writer had not taken it yet),
// the lists are forgotten, and the connection goes on serving others: the
// abandoned replies are read and dropped, none reaches another caller.
func TestSharedContextEndReleasesWaiters(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, SocketTimeout: time.Minute})
	db := m.Database(0)
	shared, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	// Pipelined from the start (a Command switches the connection), so
	// that no caller waits in a direct round trip instead of the lists.
	if _, err := db.Command(shared, "PING").Reply(shared); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < sharedAfter+1; i++ {
		if _, err := db.Do(shared, "SET", "k", i); err != nil {
			t.Fatal(err)
		}
	}
	w := listsOf(m, shared)
	if w == nil {
		t.Fatalf("a context used %d times in a row has no waiter lists", sharedAfter+1)
	}
	if err := srv.Pause(); err != nil { // accepts, never answers
		t.Fatal(err)
	}
	const callers = 200
	errs := make(chan error, callers)
	for g := 0; g < callers; g++ {
		go func() {
			_, err := db.Do(shared, "ECHO", fmt.Sprint("caller-", g))
			errs <- err
		}()
	}
	waitFor(t, "every caller to wait in the lists", func() bool { return w.linked() == callers })
	start := time.Now()
	cancel()
	for g := 0; g < callers; g++ {
		err := <-errs
		if !errors.Is(err, context.Canceled) || MaybeExecuted(err) == NotExecuted(err) {
			t.Fatalf("a caller of the ended context got %v", err)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the callers took %v to return", took)
	}
	if w.linked() != 0 || listsOf(m, shared) != nil {
		t.Fatal("the ended context's lists are still linked or kept")
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if s, err := String(db.Do(ctx, "ECHO", "after")); err != nil || s != "after" {
		t.Fatalf("after the abandoned replies: %q, %v", s, err)
	}
}

// Callers sharing contexts that end at random moments, mid-load: every
// reply a caller gets is its own (ECHO of its own payload), every failure
// is its context's, and the next contexts are served. The completion and
// the context's end race in every way the protocol of ctxwait.go allows.
func TestSharedContextsEndingUnderLoad(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	db := m.Database(0)
	const callers = 64
	rounds := scaled(200)
	unit := time.Millisecond
	if slicing {
		unit *= 100 // 1-byte writes: enough calls per round for the lists
	}
	made := m.listsMade.Load()
	for round := 0; round < rounds; round++ {
		ctx, cancel := context.WithTimeout(testCtx(t), time.Duration(2+round%7)*unit)
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					want := fmt.Sprintf("%d-%d-%d", round, g, i)
					s, err := String(db.Do(ctx, "ECHO", want))
					switch {
					case err == nil && s != want:
						errs <- fmt.Errorf("caller %d got %q, want %q", g, s, want)
						return
					case err != nil && ctxEnded(ctx) == nil: // (its deadline may pass before its timer fires)
						errs <- fmt.Errorf("caller %d: %v before its context ended", g, err)
						return
					case err != nil && !errors.Is(err, context.DeadlineExceeded):
						errs <- fmt.Errorf("caller %d: %v, want its context's error", g, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	listed := m.listsMade.Load() - made
	if listed == 0 {
		t.Fatalf("no round's context got waiter lists: the test did not exercise them")
	}
	t.Logf("%d of %d rounds' contexts had waiter lists", listed, rounds)
	waitFor(t, "the ended contexts' lists to be forgotten", func() bool { return m.nwaiters.Load() == 0 })
	for i := range m.sightings {
		if w := m.sightings[i].lists.Load(); w != nil {
			t.Fatalf("sighting slot %d still holds the waiter lists of an ended context (fired %v)", i, w.fired.Load())
		}
	}
	if s, err := String(db.Do(testCtx(t), "ECHO", "after")); err != nil || s != "after" {
		t.Fatalf("after the rounds: %q, %v", s, err)
	}
}

// Contexts used once each (per-call contexts) never get waiter lists, and
// at most maxWaitLists contexts have them at once.
func TestWaitListsOnlyForSharedContexts(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	db := m.Database(0)
	for i := 0; i < 10*sharedAfter; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := db.Do(ctx, "SET", "k", i)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := m.nwaiters.Load(); n != 0 {
		t.Fatalf("per-call contexts got %d waiter lists", n)
	}
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for c := 0; c < maxWaitLists+8; c++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		for i := 0; i < sharedAfter+1; i++ {
			if _, err := db.Do(ctx, "GET", "k"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := m.nwaiters.Load(); n != maxWaitLists {
		t.Fatalf("%d contexts have waiter lists, want the cap, %d", n, maxWaitLists)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := m.nwaiters.Load(); n != 0 {
		t.Fatalf("after Close, %d waiter lists are kept", n)
	}
}
