package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/faultinject"
	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// A transaction replayed after its connection failed part-way through its
// replies starts afresh on the next connection: the old partial replies do
// not count, and no reply shifts onto the next caller.
func TestReplayedTransactionStartsAfresh(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ctx := context.Background()
	db := m.Database(0)
	done := make(chan error, 1)
	var a, b *Future
	go func() {
		tx := db.Multi()
		a = tx.Command("GET", "a")
		b = tx.Command("GET", "b")
		done <- tx.Exec(ctx) // read-only: safe to replay
	}()
	fc := fs.accept()
	for _, want := range [][]string{{"MULTI"}, {"GET", "a"}, {"GET", "b"}, {"EXEC"}} {
		fc.expect(want...)
	}
	fc.reply(resp.SimpleString("OK"), resp.SimpleString("QUEUED"))
	_ = fc.nc.Close() // dies after two of its four replies
	fc = fs.accept()
	for _, want := range [][]string{{"MULTI"}, {"GET", "a"}, {"GET", "b"}, {"EXEC"}} {
		fc.expect(want...)
	}
	fc.reply(resp.SimpleString("OK"), resp.SimpleString("QUEUED"), resp.SimpleString("QUEUED"),
		resp.Array(resp.Bulk("va"), resp.Bulk("vb")))
	if err := <-done; err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if s, err := String(a.Reply(ctx)); err != nil || s != "va" {
		t.Fatalf("a = %q, %v", s, err)
	}
	if s, err := String(b.Reply(ctx)); err != nil || s != "vb" {
		t.Fatalf("b = %q, %v", s, err)
	}
	ch := goDo(ctx, db, "GET", "z")
	fc.expect("GET", "z")
	fc.reply(resp.Bulk("vz"))
	if r := wait(t, ch); r.err != nil || r.v.Str != "vz" {
		t.Fatalf("the next caller got %v, %v", r.v, r.err)
	}
}

// A SELECT the server refuses (it changed since the database was checked)
// stops the connection before any later reply is delivered: the command
// that ran in the wrong database is not reported as a success.
func TestRefusedSelectIsNotASuccess(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ctx := context.Background()
	ch := goDo(ctx, m.Database(1).With(Retries(0)), "SET", "k", "v")
	probe := <-fs.conns // checkDB's own connection: handshake, then SELECT
	probe.expect("HELLO", "3")
	probe.reply(resp.Map())
	probe.expect("SELECT", "1")
	probe.reply(resp.SimpleString("OK"))
	fc := fs.accept()
	fc.expect("SELECT", "1")
	fc.expect("SET", "k", "v")
	fc.reply(resp.ErrorValue("ERR DB index is out of range"), resp.SimpleString("OK"))
	r := wait(t, ch)
	if r.err == nil || !errors.Is(r.err, ErrInvalidDB) || !MaybeExecuted(r.err) {
		t.Fatalf("SET after a refused SELECT: %v, %v; want ErrInvalidDB and MaybeExecuted", r.v, r.err)
	}
}

// Close ends a blocking command that Do is waiting on.
func TestCloseEndsBlockingCommands(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m, err := New(Config{Endpoints: []string{serverAddr(t, srv)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	errs := make(chan error, 2)
	go func() { _, err := m.Database(0).Do(ctx, "BLPOP", "q", 0); errs <- err }()
	go func() {
		errs <- m.Dedicated(ctx, func(c *Conn) error { _, err := c.Do(ctx, "BLPOP", "q2", 0); return err })
	}()
	waitFor(t, "two blocked clients", func() bool {
		info, _ := String(srv.Do(ctx, "INFO", "clients"))
		return len(info) > 0 && containsLine(info, "blocked_clients:2")
	})
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("blocked command after Close: %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not end a blocking command")
		}
	}
	t.Logf("blocking commands ended %v after Close", time.Since(start))
}

func containsLine(text, line string) bool {
	for len(text) > 0 {
		i := 0
		for i < len(text) && text[i] != '\n' {
			i++
		}
		l := text[:i]
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		if l == line {
			return true
		}
		if i == len(text) {
			break
		}
		text = text[i+1:]
	}
	return false
}

// Redis 6 reports no "blocking" flag; XREAD ... BLOCK must still leave the
// shared connection.
func TestXreadBlocksWithoutTheFlag(t *testing.T) {
	v := resp.Array(resp.Bulk("xread"), resp.Int(-4), resp.Array(resp.SimpleString("readonly"), resp.SimpleString("movablekeys")),
		resp.Int(0), resp.Int(0), resp.Int(0))
	ci := parseCommandInfo(v)
	if !blocks(ci, []any{"XREAD", "BLOCK", 0, "STREAMS", "s", "$"}, argText) {
		t.Fatal("XREAD BLOCK on a Redis 6 command table would run on the shared connection")
	}
	if blocks(ci, []any{"XREAD", "STREAMS", "s", "0"}, argText) {
		t.Fatal("XREAD without BLOCK does not block")
	}
}

// Concurrent Replies: the one that does not own the wait returns when its
// own ctx ends, without settling the Future.
func TestFutureConcurrentReplies(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ctx := context.Background()
	issued := issue(ctx, m.Database(0), []any{"GET", "k"})
	fc := fs.accept()
	fc.expect("GET", "k")
	f := receive(t, issued)[0]
	owner := make(chan result, 1)
	go func() { v, err := f.Reply(ctx); owner <- result{v, err} }()
	waitOwned(t, f)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := f.Reply(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Reply: %v", err)
	}
	fc.reply(resp.Bulk("v"))
	if r := wait(t, owner); r.err != nil || r.v.Str != "v" {
		t.Fatalf("owner: %v %v", r.v, r.err)
	}
	if v, err := f.Reply(short); err != nil || v.Str != "v" {
		t.Fatalf("Reply after settling: %v %v", v, err)
	}
}

// A script that answers "+RESET" left unread on a dedicated connection
// cannot desynchronise the reset: the next user gets a clean connection.
func TestDedicatedResetCannotBeFooled(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, MaxDedicated: 1})
	ctx := testCtx(t)
	if err := m.Dedicated(ctx, func(c *Conn) error {
		return c.Send(ctx, "EVAL", "return redis.status_reply('RESET')", 0)
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := m.Dedicated(ctx, func(c *Conn) error {
			s, err := String(c.Do(ctx, "ECHO", "fresh"))
			if err != nil || s != "fresh" {
				t.Fatalf("after the fake RESET: %q, %v", s, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// DoStrings: the same results as Do, and no allocation for a SET with a
// reused argument slice (beyond what the reply needs).
func TestDoStrings(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(0)
	if v, err := db.DoStrings(ctx, "SET", "k", "v"); err != nil || v.Str != "OK" {
		t.Fatalf("SET = %v, %v", v, err)
	}
	if s, err := String(db.DoStrings(ctx, "GET", "k")); err != nil || s != "v" {
		t.Fatalf("GET = %q, %v", s, err)
	}
	if _, err := db.DoStrings(ctx, "WATCH", "k"); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("WATCH: %v", err)
	}
	if v, err := db.DoStrings(ctx, "BLPOP", "nothing", "0.01"); err != nil || !v.IsNull() {
		t.Fatalf("BLPOP = %v, %v", v, err)
	}
}

// The allocation budget of the hot path (make test runs the Allocation
// tests once more without -race, whose sync.Pool drops objects on purpose):
// a SET through DoStrings with a reused argument slice allocates nothing,
// also with a value sent from its string (writev); a GET allocates its
// reply; through Do, each non-constant argument costs one interface
// conversion.
func TestAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Log("the race detector makes sync.Pool drop objects: budgets are checked by the non-race pass of make test")
		return
	}
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	db := m.Database(0)
	ctx := context.Background()
	key, val := strings.Repeat("k", 8), strings.Repeat("v", 16)
	set := []string{"SET", key, val}
	get := []string{"GET", key}
	setAny, getAny := []any{"SET", key, val}, []any{"GET", key} // boxed once, as a worker can
	big := strings.Repeat("v", 4096)                            // sent from the string itself (bigArgMin)
	setBig, setBigAny := []string{"SET", key, big}, []any{"SET", key, big}
	cctx, cancel := context.WithCancel(ctx) // a worker's cancellable ctx
	defer cancel()
	// The same calls through the writer and reader goroutines: a Command
	// switches a connection to pipelining for good.
	piped := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	if _, err := piped.Command(ctx, "PING").Reply(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := piped.m.Nodes()[0].conn(ctx); err != nil || c.mode.Load() != modePipelined {
		t.Fatalf("the connection did not switch to pipelining (%v)", err)
	}
	for _, tt := range []struct {
		name   string
		budget float64
		run    func() error
	}{
		{"DoStrings SET", 0, func() error { _, err := db.DoStrings(ctx, set...); return err }},
		{"DoStrings GET", 1, func() error { _, err := db.DoStrings(ctx, get...); return err }},
		{"Do SET", 2, func() error { _, err := db.Do(ctx, "SET", key, val); return err }},
		{"Do GET", 2, func() error { _, err := db.Do(ctx, "GET", key); return err }},
		{"Do SET, args boxed once", 0, func() error { _, err := db.Do(ctx, setAny...); return err }},
		{"Do GET, args boxed once", 1, func() error { _, err := db.Do(ctx, getAny...); return err }},
		{"Do SET, cancellable ctx", 0, func() error { _, err := db.Do(cctx, setAny...); return err }},
		{"DoStrings GET, cancellable ctx", 1, func() error { _, err := db.DoStrings(cctx, get...); return err }},
		{"DoStrings SET 4 KiB", 0, func() error { _, err := db.DoStrings(ctx, setBig...); return err }},
		{"Do SET 4 KiB, args boxed once", 0, func() error { _, err := db.Do(ctx, setBigAny...); return err }},
		{"pipelined: Do SET, args boxed once", 0, func() error { _, err := piped.Do(ctx, setAny...); return err }},
		{"pipelined: Do GET, args boxed once", 1, func() error { _, err := piped.Do(ctx, getAny...); return err }},
		{"pipelined: Do SET 4 KiB, args boxed once", 0, func() error { _, err := piped.Do(ctx, setBigAny...); return err }},
	} {
		if n := testing.AllocsPerRun(500, func() {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
		}); n > tt.budget {
			t.Errorf("%s: %v allocations per call, budget %v", tt.name, n, tt.budget)
		}
	}
}

// A lone caller does its own round trip (direct mode); a second caller
// arriving meanwhile switches the connection to pipelining, for good; a
// caller whose ctx ends during a direct round trip leaves its reply to be
// read and dropped, and the next caller gets its own reply.
func TestDirectModeAndSwitch(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{srv.Addr()}})
	ctx := testCtx(t)
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	c := m.single.cc.Load()
	if c.mode.Load() != modeDirect {
		t.Skip("this platform's connections start pipelined") // canPeek is false
	}
	// A command whose ctx ends while the server sleeps: DEBUG SLEEP holds
	// the reply back.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := db.Do(short, "DEBUG", "SLEEP", "0.3")
	if !errors.Is(err, context.DeadlineExceeded) || !MaybeExecuted(err) {
		t.Fatalf("interrupted direct round trip: %v", err)
	}
	if c.mode.Load() != modePipelined {
		t.Fatal("an interrupted direct round trip must leave its reply to the reader goroutine")
	}
	if s, err := String(db.Do(ctx, "GET", "k")); err != nil || s != "v" {
		t.Fatalf("the next caller got %q, %v (the dropped reply was %q)", s, err, "OK")
	}
	// A fresh connection: two callers at once switch it.
	m2 := newMux(t, Config{Endpoints: []string{srv.Addr()}})
	if err := m2.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	c2 := m2.single.cc.Load()
	errs := make(chan error, 2)
	// The server paused: the first caller's round trip lasts until the
	// second one has found the connection busy (a DEBUG SLEEP's window
	// could pass unseen on a loaded machine).
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	go func() { _, err := m2.Database(0).Do(ctx, "SET", "k2", "v2"); errs <- err }()
	waitFor(t, "the first caller to hold the connection", func() bool {
		if c2.directMu.TryLock() {
			c2.directMu.Unlock()
			return false
		}
		return true
	})
	go func() { _, err := m2.Database(0).Do(ctx, "PING"); errs <- err }()
	waitFor(t, "the second caller to ask for pipelining", c2.wantPipelined.Load)
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c2.mode.Load() != modePipelined {
		t.Fatal("two concurrent callers did not switch the connection to pipelining")
	}
}

// A direct-mode connection keeps the interrupt it registered for the last
// context; a context that ends as its call returns (a per-call ctx,
// cancelled by defer) must never cut short the next call's round trip,
// whose context is another one.
func TestDirectModeEndedContextsDoNotInterruptOthers(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	db := m.Database(0)
	for i := 0; i < scaled(5000); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := db.Do(ctx, "SET", "k", i)
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// Command never waits for its reply, even on a connection that served a
// lone caller by direct round trips: one goroutine issuing N commands pays
// about one round trip, not N. With replies delayed by a proxy, ten
// commands one after the other would take ten delays.
func TestCommandPipelinesFromOneGoroutine(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	p, err := faultinject.New("127.0.0.1:0", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	m := newMux(t, Config{Endpoints: []string{p.Addr()}})
	ctx := testCtx(t)
	db := m.Database(0)
	if _, err := db.Do(ctx, "DEL", "n"); err != nil { // a lone caller: direct round trips
		t.Fatal(err)
	}
	const delay, n = 200 * time.Millisecond, 10
	if err := p.AddToxic("slow", faultinject.Downstream, faultinject.Latency{Delay: delay}, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	futures := make([]*Future, n)
	for i := range futures {
		futures[i] = db.Command(ctx, "INCR", "n")
	}
	issued := time.Since(start)
	for i, f := range futures {
		if v, err := Int64(f.Reply(ctx)); err != nil || v != int64(i+1) {
			t.Fatalf("reply %d: %v, %v", i, v, err)
		}
	}
	// Serialized, the ten would take 2 s; pipelined, one delay and change.
	if took := time.Since(start); issued >= delay || took >= n/2*delay {
		t.Fatalf("%d Commands took %v to issue and %v in all, with replies delayed %v: they waited for each other", n, issued, took, delay)
	}
}

// A context that ends just as its direct round trip ends (its timer's
// callback runs late, after the socket's deadline fired or the reply came)
// must not set a deadline on the socket afterwards: the pipelined reader, or
// the next round trip, would fail the connection for a context that is no
// longer anyone's.
func TestDirectModeLateInterruptIsHarmless(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{srv.Addr()}})
	ctx := testCtx(t)
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	c := m.single.cc.Load()
	if c.mode.Load() != modeDirect {
		t.Skip("this platform's connections start pipelined") // canPeek is false
	}
	// Replayed by hand, at the worst moment: right after the round trip let
	// go of its context, the context's interrupt runs.
	var late <-chan struct{}
	c.afterDisarm = func() {
		if late != nil {
			c.interrupt(late)
		}
	}
	// The reply came: the context ends right after.
	done, cancel := context.WithCancel(ctx)
	late = done.Done()
	if _, err := db.Do(done, "SET", "k", "v2"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if s, err := String(db.Do(ctx, "GET", "k")); err != nil || s != "v2" {
		t.Fatalf("after a late interrupt, the next round trip got %q, %v", s, err)
	}
	// The deadline passed first: the reply is left to the pipelined reader.
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	late = short.Done()
	if _, err := db.Do(short, "DEBUG", "SLEEP", "0.2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("interrupted round trip: %v", err)
	}
	if s, err := String(db.Do(ctx, "GET", "k")); err != nil || s != "v2" {
		t.Fatalf("after a late interrupt, the pipelined reader got %q, %v", s, err)
	}
	if m.single.cc.Load() != c || c.isDead.Load() {
		t.Fatal("a late interrupt failed the connection")
	}
}

// waitOwned waits until a Reply owns the wait for f's reply.
func waitOwned(t *testing.T, f *Future) {
	t.Helper()
	waitFor(t, "a Reply to own the wait", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.owner
	})
}
