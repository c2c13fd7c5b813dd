package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// A connection that fails to come up with a server's reply inside its error
// (ErrAuth wraps WRONGPASS) is a connection failure for Exec too: it was
// taken for the transaction's own reply and Exec said "0 replies to a
// transaction of 1 commands", neither ErrAuth nor NotExecuted.
func TestExecConnectionFailureWrappingAReply(t *testing.T) {
	srv := startServer(t, redisserver.Options{Password: "s3cret"})
	ctx := testCtx(t)
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Password: "wrong"})
	tx := m.Database(0).Multi()
	f := tx.Command("INCR", "n")
	err := tx.Exec(ctx)
	if !errors.Is(err, ErrAuth) || !NotExecuted(err) {
		t.Fatalf("Exec = %v (ErrAuth %v, NotExecuted %v), want ErrAuth, not executed", err, errors.Is(err, ErrAuth), NotExecuted(err))
	}
	if _, ferr := f.Reply(ctx); !errors.Is(ferr, ErrAuth) {
		t.Fatalf("the future's error = %v, want ErrAuth", ferr)
	}
}

// A user may run EVALSHA but not SCRIPT LOAD (an administrator loaded the
// scripts). The first run on a connection pipelines SCRIPT LOAD and
// EVALSHA: the load is refused, the script runs, and its reply is the
// answer, not the load's refusal (which read as "ran and failed").
func TestScriptLoadRefusedButScriptRan(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	admin := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	s := NewScript("return redis.call('INCR', KEYS[1])")
	mustDo(t, admin, "SCRIPT", "LOAD", s.Source())
	mustDo(t, admin, "ACL", "SETUSER", "app", "on", "nopass", "~*", "+@all", "-script|load")
	db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: "app"}).Database(0)

	v, err := s.Run(ctx, db, []string{"n"})
	if err != nil || v.Int != 1 {
		t.Fatalf("Run = %v, %v; want 1, nil (the script ran)", v, err)
	}
	// EVAL goes the same way.
	v, err = db.Do(ctx, "EVAL", s.Source(), 1, "n")
	if err != nil || v.Int != 2 {
		t.Fatalf("EVAL = %v, %v; want 2, nil", v, err)
	}
	// A script the server does not know still says why it could not be
	// loaded.
	_, err = NewScript("return 7").Run(ctx, db, nil)
	if resp.ErrorPrefix(err) != "NOPERM" {
		t.Fatalf("an unknown script whose load is refused: %v, want the NOPERM refusal", err)
	}
}

// A server that refuses MULTI runs the commands that follow one by one, and
// refuses EXEC ("without MULTI"). Exec said ErrTxAborted, which NotExecuted
// calls "did not run", and the futures never saw the commands' replies: a
// caller retrying would run the writes twice.
func TestMultiRefusedCommandsRanOneByOne(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	admin := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	mustDo(t, admin, "ACL", "SETUSER", "app", "on", "nopass", "~*", "+@all", "-multi")
	db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: "app", MaxDedicated: 1}).Database(0)

	check := func(what string, err error, f *Future, want int64) {
		t.Helper()
		var e *resp.Error
		if !errors.Is(err, ErrTxNotAtomic) || NotExecuted(err) || MaybeExecuted(err) || !errors.As(err, &e) || e.Prefix != "NOPERM" {
			t.Fatalf("%s = %v (NotExecuted %v, MaybeExecuted %v), want ErrTxNotAtomic wrapping MULTI's NOPERM",
				what, err, NotExecuted(err), MaybeExecuted(err))
		}
		if n, err := Int64(f.Reply(ctx)); err != nil || n != want {
			t.Fatalf("%s: the future = %d, %v; want the command's own reply %d", what, n, err, want)
		}
		if n, _ := Int64(admin.Do(ctx, "GET", "n")); n != want {
			t.Fatalf("%s: n = %d on the server, want %d", what, n, want)
		}
	}

	tx := db.Multi()
	f := tx.Command("INCR", "n")
	check("Exec", tx.Exec(ctx), f, 1)

	err := db.Watch(ctx, []string{"n"}, func(tx *Tx) error {
		f = tx.Command("INCR", "n")
		return nil
	})
	check("Watch", err, f, 2)

	// WATCH n outlived that EXEC ("without MULTI") and n changed: left on
	// the connection (MaxDedicated 1: the next Watch gets it), it would
	// fail the next transaction, which watches another key.
	mustDo(t, admin, "ACL", "SETUSER", "app", "+multi")
	err = db.Watch(ctx, []string{"other"}, func(tx *Tx) error {
		f = tx.Command("INCR", "other")
		return nil
	})
	if err != nil {
		t.Fatalf("the next Watch, on another key: %v (the refused one's WATCH was left on the connection)", err)
	}
}

// Commands on a dedicated connection are not written once the Mux is
// closed: Close's interrupt of the connection (asynchronous) lost the race
// with the write of a command issued after Close had returned, and 17 of 20
// such EXECs ran, reported "maybe executed".
func TestDedicatedNotSentAfterClose(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	addr := serverAddr(t, srv)
	for range 20 {
		m, err := New(Config{Endpoints: []string{addr}})
		if err != nil {
			t.Fatal(err)
		}
		err = m.Database(0).Watch(ctx, []string{"n"}, func(tx *Tx) error {
			_ = m.Close()
			tx.Command("INCR", "n")
			return nil
		})
		if !errors.Is(err, ErrClosed) || !NotExecuted(err) {
			t.Fatalf("Watch's EXEC after Close: %v, want ErrClosed, not sent", err)
		}
	}
	m, err := New(Config{Endpoints: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Dedicated(ctx, func(c *Conn) error {
		_ = m.Close()
		_, err := c.Do(ctx, "INCR", "n")
		return err
	})
	if !errors.Is(err, ErrClosed) || !NotExecuted(err) {
		t.Fatalf("Conn.Do after Close: %v, want ErrClosed, not sent", err)
	}
	if v, err := srv.Do(ctx, "GET", "n"); err != nil || !v.IsNull() {
		t.Fatalf("n = %v, %v on the server: a command ran after Close", v, err)
	}
}

// After a command on a Watch's Tx failed (here its ctx ended) and fn went
// on, Watch does not send EXEC, and says so: NotSent, ErrConnBroken. It
// returned the earlier failure itself, "maybe executed" with a deadline
// error although its own ctx was live.
func TestWatchAfterAFailedDoSaysNotSent(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	var doErr error
	var f *Future
	err := db.Watch(ctx, []string{"n"}, func(tx *Tx) error {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, doErr = tx.Do(short, "BLPOP", "empty", 0) // times out; fn goes on
		f = tx.Command("INCR", "n")
		return nil
	})
	if !errors.Is(doErr, context.DeadlineExceeded) {
		t.Fatalf("the BLPOP: %v, want its deadline", doErr)
	}
	if !errors.Is(err, ErrConnBroken) || !NotExecuted(err) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Watch = %v, want ErrConnBroken, not sent, not a deadline", err)
	}
	if _, ferr := f.Reply(ctx); !errors.Is(ferr, ErrConnBroken) {
		t.Fatalf("the future: %v, want ErrConnBroken", ferr)
	}
	if v, err := srv.Do(ctx, "GET", "n"); err != nil || !v.IsNull() {
		t.Fatalf("n = %v, %v on the server, want no EXEC", v, err)
	}
}

// mustDo runs a command that the test needs to succeed.
func mustDo(t *testing.T, db Database, args ...any) resp.Value {
	t.Helper()
	v, err := db.Do(testCtx(t), args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// A blocking command's Future, like any other, is settled by the ctx of the
// Reply waiting for it, not by that of a concurrent Reply: a second
// caller's short ctx cancelled the BLPOP for the first.
func TestBlockingFutureNotCancelledByAnotherReply(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	f := db.Command(ctx, "BLPOP", "list", 0)
	got := make(chan error, 1)
	go func() {
		v, err := f.Reply(ctx)
		if err == nil && (len(v.Elems) != 2 || v.Elems[1].Str != "x") {
			err = fmt.Errorf("reply %v, want [list x]", v)
		}
		got <- err
	}()
	waitOwned(t, f)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := f.Reply(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the second Reply: %v, want its own deadline", err)
	}
	mustDo(t, db, "RPUSH", "list", "x")
	if err := <-got; err != nil {
		t.Fatalf("the first Reply: %v, want the pushed element", err)
	}
}

// A blocking command answered "not now" (LOADING, TRYAGAIN) did not run: it
// is re-sent after the pause, within the retry budget, as on the shared
// connection; it used to be returned to the caller at once.
func TestFakeBlockingRetriesNotNow(t *testing.T) {
	fs, cfg := newFake(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := testCtx(t)
	ch := goDo(ctx, m.Database(0), "BLPOP", "list", "0")
	fs.commands = true // a dedicated connection does not ask COMMAND
	fc := fs.accept()
	for _, notNow := range []string{"-LOADING Redis is loading the dataset in memory\r\n", "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"} {
		fc.expect("BLPOP", "list", "0")
		fc.write([]byte(notNow))
	}
	fc.expect("BLPOP", "list", "0") // the same connection, back from the pool
	fc.write([]byte("*2\r\n$4\r\nlist\r\n$1\r\nx\r\n"))
	if r := wait(t, ch); r.err != nil || len(r.v.Elems) != 2 || r.v.Elems[1].Str != "x" {
		t.Fatalf("got %v, %v; want [list x] after two pauses", r.v, r.err)
	}

	// Without a retry budget the caller gets the reply.
	ch = goDo(ctx, m.Database(0).With(Retries(0)), "BLPOP", "list", "0")
	fc.expect("BLPOP", "list", "0")
	fc.write([]byte("-LOADING Redis is loading the dataset in memory\r\n"))
	if r := wait(t, ch); resp.ErrorPrefix(r.err) != "LOADING" || !NotExecuted(r.err) {
		t.Fatalf("got %v, %v; want LOADING", r.v, r.err)
	}
	fs.noDial("a blocking command's retry dialled again")
}

// A Watch's Tx refuses the commands that would leave its connection
// streaming pushes, which Watch's clean-up (UNWATCH) does not undo.
func TestTxRefusesStreamingCommands(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, MaxDedicated: 1}).Database(0)
	for _, args := range [][]any{{"SUBSCRIBE", "ch"}, {"psubscribe", "c*"}, {"MONITOR"}, {"WATCH", "k"}} {
		err := db.Watch(ctx, []string{"k"}, func(tx *Tx) error {
			_, err := tx.Do(ctx, args...)
			return err
		})
		if !errors.Is(err, ErrNotAllowed) || !NotExecuted(err) {
			t.Fatalf("%v in a Watch: %v, want ErrNotAllowed", args, err)
		}
	}
	// The connection is still a plain one.
	err := db.Watch(ctx, []string{"k"}, func(tx *Tx) error {
		tx.Command("SET", "k", "v")
		return nil
	})
	if err != nil {
		t.Fatalf("a Watch after them: %v", err)
	}
}

// Script.Command queues a cached script in a Watch's transaction too, its
// SCRIPT LOAD ahead of MULTI as in Multi.Exec: the server has never seen
// the script, and EXEC runs it.
func TestScriptInWatch(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	incr := NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
	broken := NewScript("this is not lua")
	var f, bad, after *Future
	err := db.Watch(ctx, []string{"n"}, func(tx *Tx) error {
		f = incr.Command(tx, []string{"n"}, 5)
		bad = broken.Command(tx, nil)
		after = tx.Command("INCR", "n")
		return nil
	})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if n, err := Int64(f.Reply(ctx)); err != nil || n != 5 {
		t.Fatalf("the script's future = %d, %v; want 5", n, err)
	}
	if _, err := bad.Reply(ctx); resp.ErrorPrefix(err) != "NOSCRIPT" || !strings.Contains(err.Error(), "SCRIPT LOAD") {
		t.Fatalf("the broken script's future: %v, want NOSCRIPT naming the load's error", err)
	}
	if n, err := Int64(after.Reply(ctx)); err != nil || n != 6 {
		t.Fatalf("the command after it = %d, %v; want 6", n, err)
	}
}

// A transaction with a script whose EXEC is answered CLUSTERDOWN, and
// whose ctx ends during the pause before the re-send, panicked: the pause
// had cleared the call's node (the slot may move), and the script cache of
// that nil node was told of the load.
func TestFakeExecClusterDownCtxEndsInPause(t *testing.T) {
	fs, cfg := newFake(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := NewScript("return 1")
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	hook := func() { cancel() } // the ctx ends as the pause begins
	beforeNotNowPause.Store(&hook)
	defer beforeNotNowPause.Store(nil)
	served := make(chan struct{})
	go func() {
		defer close(served)
		fc := fs.accept()
		fc.expect("SCRIPT", "LOAD", "return 1")
		fc.expect("MULTI")
		fc.expect("EVALSHA", s.SHA(), "0")
		fc.expect("EXEC")
		fc.reply(resp.Bulk(s.SHA()), resp.SimpleString("OK"), resp.SimpleString("QUEUED"),
			resp.ErrorValue("CLUSTERDOWN The cluster is down"))
	}()
	tx := m.Database(0).Multi()
	f := s.Command(tx, nil)
	err = tx.Exec(ctx)
	<-served
	if resp.ErrorPrefix(err) != "CLUSTERDOWN" || !NotExecuted(err) {
		t.Fatalf("Exec = %v, want the CLUSTERDOWN abort, not executed", err)
	}
	if _, ferr := f.Reply(ctx); resp.ErrorPrefix(ferr) != "CLUSTERDOWN" {
		t.Fatalf("the script's future: %v, want CLUSTERDOWN", ferr)
	}
}

// A blocking command's redirections do not use its retry budget, as on the
// shared connection: after MOVED, a LOADING from the new owner is still
// paused for and retried with Retries(1).
func TestFakeBlockingRedirectKeepsRetryBudget(t *testing.T) {
	servers, cfg := newFakes(t, "a:6379", "b:6379") // dedicated connections do not ask COMMAND
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) { return &oneNodeRouter{m: m, addr: "a:6379"}, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ch := goDo(testCtx(t), m.Database(0).With(Retries(1)), "BLPOP", "list", "0")
	a := servers["a:6379"].accept()
	a.expect("BLPOP", "list", "0")
	a.write([]byte("-MOVED 7 b:6379\r\n"))
	b := servers["b:6379"].accept()
	b.expect("BLPOP", "list", "0")
	b.write([]byte("-LOADING Redis is loading the dataset in memory\r\n"))
	b.expect("BLPOP", "list", "0")
	b.write([]byte("*2\r\n$4\r\nlist\r\n$1\r\nx\r\n"))
	if r := wait(t, ch); r.err != nil || len(r.v.Elems) != 2 || r.v.Elems[1].Str != "x" {
		t.Fatalf("got %v, %v; want [list x] from b after its LOADING", r.v, r.err)
	}
}

// replicaRouter sends reads to a replica until the client reports trouble
// with it, then everything to the master.
type replicaRouter struct {
	m               *Mux
	master, replica string
	troubled        atomic.Bool
}

func (r *replicaRouter) Sharded() bool      { return true }
func (r *replicaRouter) KeySlot(string) int { return 7 }
func (r *replicaRouter) Node(_ context.Context, _ int, readOnly bool) (*Node, error) {
	if readOnly && !r.troubled.Load() {
		n := r.m.Node(r.replica)
		n.SetReadOnly()
		return n, nil
	}
	return r.m.Node(r.master), nil
}
func (r *replicaRouter) Moved(int, string) {}
func (r *replicaRouter) Trouble(n *Node, _ error) {
	if n.Addr() == r.replica {
		r.troubled.Store(true)
	}
}
func (r *replicaRouter) Close() {}

// replicaFakes is a Mux over fake servers "master:6379" and "replica:6379",
// routed by a replicaRouter; first is the one dialled first (which the
// Mux asks COMMAND).
func replicaFakes(t *testing.T, first string) (map[string]*fakeServer, *Mux, *replicaRouter) {
	t.Helper()
	servers, cfg := newFakes(t, "master:6379", "replica:6379")
	servers[first].commands = false
	var router *replicaRouter
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) {
		router = &replicaRouter{m: m, master: "master:6379", replica: "replica:6379"}
		return router, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return servers, m, router
}

// A read that a replica turns away as LOADING (reloading its dataset) or
// CLUSTERDOWN (cut off from the majority) goes to the master at once, and
// the router hears of the replica: it was retried on the same replica after
// each pause until the budget was spent, on the pipelined path (Command)
// and, for LOADING, on the direct one (Do) too.
func TestFakeReplicaTurnsReadAway(t *testing.T) {
	for _, prefix := range []string{"LOADING Redis is loading the dataset in memory", "CLUSTERDOWN The cluster is down"} {
		for _, pipelined := range []bool{false, true} {
			servers, m, router := replicaFakes(t, "replica:6379")
			ctx := testCtx(t)
			ch := make(chan result, 1)
			go func() {
				db := m.Database(0).With(Retries(1))
				var v resp.Value
				var err error
				if pipelined {
					v, err = db.Command(ctx, "GET", "k").Reply(ctx)
				} else {
					v, err = db.Do(ctx, "GET", "k")
				}
				ch <- result{v, err}
			}()
			rc := servers["replica:6379"].accept()
			rc.expect("READONLY")
			rc.write([]byte("+OK\r\n"))
			rc.expect("GET", "k")
			rc.write([]byte("-" + prefix + "\r\n"))
			mc := servers["master:6379"].accept()
			mc.expect("GET", "k")
			mc.write([]byte("$1\r\nv\r\n"))
			if r := wait(t, ch); r.err != nil || r.v.Str != "v" {
				t.Fatalf("%s, pipelined %v: got %v, %v; want the master's v", prefix, pipelined, r.v, r.err)
			}
			if !router.troubled.Load() {
				t.Fatalf("%s, pipelined %v: the router did not hear of the replica", prefix, pipelined)
			}
		}
	}
}
