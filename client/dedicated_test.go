package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// 100 goroutines block in BLPOP while 10,000 GETs flow on the shared
// connection: the GETs all complete while every BLPOP is still blocked, and
// their latency is reported beside a baseline without BLPOPs.
func TestBlockingBesideSharedTraffic(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, MaxDedicated: 100})
	ctx := testCtx(t)
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	baseline := getLatencies(t, ctx, db, 10000)

	const blockers = 100
	results := make(chan result, blockers)
	for i := 0; i < blockers; i++ {
		go func() {
			v, err := db.Do(ctx, "BLPOP", "jobs", 0)
			results <- result{v, err}
		}()
	}
	waitFor(t, "100 clients blocked in BLPOP", func() bool {
		v, err := String(srv.Do(ctx, "INFO", "clients"))
		return err == nil && strings.Contains(v, fmt.Sprintf("blocked_clients:%d\r\n", blockers))
	})
	during := getLatencies(t, ctx, db, 10000)
	if len(results) != 0 {
		t.Fatal("a BLPOP returned before anything was pushed")
	}
	t.Logf("GET latency without BLPOPs: p50 %v p99 %v; beside %d blocked BLPOPs: p50 %v p99 %v",
		baseline.p(50), baseline.p(99), blockers, during.p(50), during.p(99))

	for i := 0; i < blockers; i++ {
		if _, err := db.Do(ctx, "RPUSH", "jobs", fmt.Sprint("job-", i)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < blockers; i++ {
		r := <-results
		got, err := Strings(r.v, r.err)
		if err != nil || len(got) != 2 || got[0] != "jobs" || seen[got[1]] {
			t.Fatalf("BLPOP = %q, %v", got, err)
		}
		seen[got[1]] = true
	}
	if n := m.single.pool.idleCount(); n == 0 || n > blockers {
		t.Fatalf("%d dedicated connections idle after the BLPOPs, want 1..%d", n, blockers)
	}
}

type latencies []time.Duration

func (l latencies) p(q int) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[(len(s)-1)*q/100]
}

// getLatencies runs n GETs from 16 goroutines and returns their latencies.
func getLatencies(t *testing.T, ctx context.Context, db Database, n int) latencies {
	t.Helper()
	var mu sync.Mutex
	var out latencies
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make(latencies, 0, n/16)
			for i := 0; i < n/16; i++ {
				start := time.Now()
				if s, err := String(db.Do(ctx, "GET", "k")); err != nil || s != "v" {
					t.Errorf("GET = %q, %v", s, err)
					return
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			out = append(out, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// A BLPOP whose ctx ends returns at once; its dedicated connection is closed
// (its reply stream is unknown), and the shared connection is untouched.
func TestBlockingCancelledByContext(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(0)
	if err := m.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	shared := m.single.cc.Load()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := db.Do(short, "BLPOP", "nothing", 0)
	if !errors.Is(err, context.DeadlineExceeded) || !MaybeExecuted(err) {
		t.Fatalf("cancelled BLPOP: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the cancelled BLPOP did not return promptly")
	}
	if n := m.single.pool.idleCount(); n != 0 {
		t.Fatalf("the cancelled BLPOP's connection went back to the pool (%d idle)", n)
	}
	waitFor(t, "the server to see the connection close", func() bool {
		v, err := String(srv.Do(ctx, "INFO", "clients"))
		return err == nil && strings.Contains(v, "blocked_clients:0\r\n")
	})
	if m.single.cc.Load() != shared || shared.isDead.Load() {
		t.Fatal("the shared connection was disturbed")
	}
	// A pipelined BLPOP (a Future) is cancelled by Reply's ctx the same way.
	f := db.Command(ctx, "BLPOP", "nothing", 0)
	short2, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if _, err := f.Reply(short2); !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled BLPOP future: %v", err)
	}
}

// WATCH/MULTI: 50 goroutines increment one counter optimistically, retrying
// on conflict; the counter ends exactly right.
func TestWatchCounter(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(4)
	// Fewer workers under the slicer (scale), but enough to conflict.
	workers, increments := max(scaled(50), 4), 20
	var conflicts sync.Map
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < increments; i++ {
				for {
					err := db.Watch(ctx, []string{"counter"}, func(tx *Tx) error {
						n, err := Int64(tx.Do(ctx, "GET", "counter"))
						if err != nil && !errors.Is(err, ErrNil) {
							return err
						}
						tx.Command("SET", "counter", n+1)
						return nil
					})
					if errors.Is(err, ErrTxFailed) {
						conflicts.Store(w, true)
						continue
					}
					if err != nil {
						t.Errorf("Watch: %v", err)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	if n, err := Int64(db.Do(ctx, "GET", "counter")); err != nil || n != int64(workers*increments) {
		t.Fatalf("counter = %d, %v; want %d", n, err, workers*increments)
	}
	conflicted := false
	conflicts.Range(func(_, _ any) bool { conflicted = true; return false })
	if !conflicted {
		t.Fatal("no conflict happened: the test proved nothing")
	}
}

// Watch's other paths: the function's error discards the transaction; a
// panic propagates and the connection is still reset; commands Watch owns
// are refused inside it.
func TestWatchPaths(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, MaxDedicated: 1})
	ctx := testCtx(t)
	db := m.Database(0)
	boom := errors.New("boom")
	err := db.Watch(ctx, []string{"k"}, func(tx *Tx) error {
		tx.Command("SET", "k", "should not happen")
		return boom
	})
	if err != boom {
		t.Fatalf("Watch returned %v, want the function's error", err)
	}
	if v, _ := db.Do(ctx, "GET", "k"); !v.IsNull() {
		t.Fatal("a discarded transaction ran")
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in fn" {
				t.Fatalf("recovered %v", r)
			}
		}()
		_ = db.Watch(ctx, []string{"k"}, func(tx *Tx) error { panic("panic in fn") })
	}()
	// With MaxDedicated 1, the next Watch gets the same (reset) connection:
	// it must not still watch "k" (a change to k would fail it).
	err = db.Watch(ctx, []string{"other"}, func(tx *Tx) error {
		if _, err := db.Do(ctx, "SET", "k", "changed"); err != nil {
			return err
		}
		if _, err := tx.Do(ctx, "MULTI"); !errors.Is(err, ErrNotAllowed) {
			return fmt.Errorf("MULTI inside Watch: %v", err)
		}
		tx.Command("SET", "done", "1")
		return nil
	})
	if err != nil {
		t.Fatalf("Watch after a panic: %v", err)
	}
}

// A dedicated connection returned dirty is reset before reuse: database,
// name, tracking and subscriptions are gone; one that panicked is closed.
func TestDedicatedReset(t *testing.T) {
	srv := startServer(t, redisserver.Options{Password: "pw"})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Password: "pw", MaxDedicated: 1})
	ctx := testCtx(t)
	var firstID int64
	err := m.Dedicated(ctx, func(c *Conn) error {
		id, err := Int64(c.Do(ctx, "CLIENT", "ID"))
		firstID = id
		for _, args := range [][]any{{"SELECT", 7}, {"CLIENT", "SETNAME", "dirty"}, {"CLIENT", "TRACKING", "on"}} {
			if _, err := c.Do(ctx, args...); err != nil {
				return err
			}
		}
		if _, err := c.Do(ctx, "SUBSCRIBE", "ch"); err != nil {
			return err
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Dedicated(ctx, func(c *Conn) error {
		id, _ := Int64(c.Do(ctx, "CLIENT", "ID"))
		if id != firstID {
			return fmt.Errorf("got connection %d, want the reset %d back", id, firstID)
		}
		info, err := String(c.Do(ctx, "CLIENT", "INFO"))
		if err != nil {
			return err
		}
		for _, want := range []string{" db=0 ", " name= ", " sub=0 ", " flags=N ", " user=default "} {
			if !strings.Contains(info, want) {
				return fmt.Errorf("after reset, CLIENT INFO lacks %q: %s", want, info)
			}
		}
		if v, err := c.Do(ctx, "HELLO"); err != nil || v.Type != resp.TypeMap {
			return fmt.Errorf("after reset the connection is not on RESP3: %v %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = m.Dedicated(ctx, func(c *Conn) error { panic("x") })
	}()
	_ = m.Dedicated(ctx, func(c *Conn) error {
		if id, _ := Int64(c.Do(ctx, "CLIENT", "ID")); id == firstID {
			t.Error("a connection whose function panicked was reused")
		}
		return nil
	})
	// A Conn used after its function returned says so.
	var kept *Conn
	_ = m.Dedicated(ctx, func(c *Conn) error { kept = c; return nil })
	if _, err := kept.Do(ctx, "PING"); !errors.Is(err, ErrConnDone) {
		t.Fatalf("Conn used after return: %v", err)
	}
}

// A Do on a Conn whose ctx ends leaves its reply to come on the wire: a
// later Do must not take that reply for its own. It fails, not sent, with
// ErrConnBroken; Receive still reads what the server sends.
func TestDedicatedOutOfStepAfterAbandonedDo(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	err := m.Dedicated(ctx, func(c *Conn) error {
		// Abandon a BLPOP once the server has it (blocked), so that its
		// reply is sure to come later.
		bctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			defer cancel()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				if v, err := srv.Do(ctx, "INFO", "clients"); err != nil || strings.Contains(v.Text(), "blocked_clients:1") {
					return
				}
				select {
				case <-tick.C:
				case <-bctx.Done():
					return
				}
			}
		}()
		if _, err := c.Do(bctx, "BLPOP", "nolist", "0.3"); !errors.Is(err, context.Canceled) {
			t.Fatalf("BLPOP abandoned: %v", err)
		}
		v, err := c.Do(ctx, "ECHO", "hello")
		if !errors.Is(err, ErrConnBroken) || !NotExecuted(err) || errors.Is(err, context.Canceled) {
			t.Fatalf("ECHO after the abandoned BLPOP = %v, %v; want ErrConnBroken, not executed, not the BLPOP's ctx error", v, err)
		}
		if v, err := c.Receive(ctx); err != nil || v.Type != resp.TypeNull {
			t.Fatalf("Receive after it: %v, %v; want the BLPOP's null", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A blocking command in Database(3) runs on a pooled dedicated connection,
// which it leaves in database 3: Mux.Dedicated lending that connection
// must still start fn in database 0.
func TestDedicatedStartsInDatabase0(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	for db, val := range map[int]string{0: "db0", 3: "db3"} {
		if _, err := m.Database(db).Do(ctx, "SET", "k", val); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Database(3).Do(ctx, "BLPOP", "nolist", "0.01"); err != nil {
		t.Fatal(err)
	}
	var got string
	err := m.Dedicated(ctx, func(c *Conn) error {
		v, err := c.Do(ctx, "GET", "k")
		got = v.Str
		return err
	})
	if err != nil || got != "db0" {
		t.Fatalf("GET k on a Dedicated Conn = %q, %v; want db0", got, err)
	}
}

// Watch's own round trips (WATCH, Tx.Do, EXEC) honour SocketTimeout, as
// commands on the shared connection do: on a server that stops answering,
// with a ctx without deadline, they fail with ErrSocketTimeout instead of
// waiting for TCP to give up.
func TestWatchSocketTimeout(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, SocketTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "w", "1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	done := make(chan error, 1)
	go func() {
		done <- db.Watch(ctx, []string{"w"}, func(tx *Tx) error {
			if err := srv.Pause(); err != nil {
				return err
			}
			_, err := tx.Do(ctx, "GET", "w")
			return err
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrSocketTimeout) {
			t.Fatalf("Watch on a paused server: %v; want ErrSocketTimeout", err)
		}
	case <-time.After(10 * time.Second):
		_ = srv.Resume()
		<-done
		t.Fatal("Tx.Do still waiting 10s after the server paused, with SocketTimeout 300ms")
	}
}

// A WATCH that fails (here: a paused server, SocketTimeout) leaves nothing
// of the transaction run, and fn uncalled: the error says NotExecuted, so
// a caller may run the transaction again.
func TestWatchFailureIsNotExecuted(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, SocketTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	db := m.Database(0)
	// A pooled dedicated connection, so that WATCH is the first to fail.
	if err := db.Watch(ctx, []string{"w"}, func(tx *Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	called := false
	err := db.Watch(ctx, []string{"w"}, func(tx *Tx) error { called = true; return nil })
	if called || !errors.Is(err, ErrSocketTimeout) || !NotExecuted(err) {
		t.Fatalf("Watch on a paused server: %v (fn called %v, NotExecuted %v); want ErrSocketTimeout, not executed, fn not called",
			err, called, NotExecuted(err))
	}
}

// A Watch whose SELECT fails on I/O (here: a paused server, SocketTimeout,
// on a pooled connection left in database 0) ran nothing of the
// transaction and never called fn: the error says so (NotExecuted), and
// keeps the cause inspectable.
func TestWatchSelectFailureIsNotExecuted(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, SocketTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	// Database 3 is known to exist (the check runs once per Mux), and a
	// dedicated connection is pooled in database 0: the next Watch on
	// database 3 starts with SELECT 3.
	if _, err := m.Database(3).Do(ctx, "PING"); err != nil {
		t.Fatal(err)
	}
	if err := m.Database(0).Watch(ctx, []string{"w"}, func(tx *Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	called := false
	err := m.Database(3).Watch(ctx, []string{"w"}, func(tx *Tx) error { called = true; return nil })
	var re *RequestError
	if called || !errors.Is(err, ErrSocketTimeout) || !NotExecuted(err) || !errors.As(err, &re) || re.Exec != NotSent {
		t.Fatalf("Watch on database 3 of a paused server: %v (fn called %v, NotExecuted %v); want ErrSocketTimeout in a NotSent RequestError, fn not called",
			err, called, NotExecuted(err))
	}
}
