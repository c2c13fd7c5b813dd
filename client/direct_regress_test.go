package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// TestDirectSelectInterrupted: a direct round trip that writes SELECT 1 and
// its command, and whose ctx ends before the SELECT's reply comes, leaves
// the connection knowing that database 1 is selected: the server runs the
// SELECT anyway. The connection used to keep thinking database 0 was, and
// the next command for database 0 went without a SELECT and ran in
// database 1.
func TestDirectSelectInterrupted(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	m := newMux(t, Config{Endpoints: []string{srv.Addr()}})
	db0, db1 := m.Database(0), m.Database(1)
	for _, kv := range []struct {
		db  Database
		val string
	}{{db0, "in-db0"}, {db1, "in-db1"}, {db0, "in-db0"}} { // ends with database 0 selected
		if _, err := kv.db.Do(ctx, "SET", "k", kv.val); err != nil {
			t.Fatal(err)
		}
	}
	c := m.single.cc.Load()
	if c.mode.Load() != modeDirect || c.curDB != 0 {
		t.Fatalf("want an idle connection in direct mode with database 0 selected (mode %d, db %d)", c.mode.Load(), c.curDB)
	}
	// Hold every reply back (CLIENT PAUSE, from the server's side) well
	// past the caller's ctx.
	if _, err := srv.Do(ctx, "CLIENT", "PAUSE", "500", "ALL"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := db1.Do(short, "GET", "k"); !errors.Is(err, context.DeadlineExceeded) || !MaybeExecuted(err) {
		t.Fatalf("GET in database 1 with a ctx that ends first: %v; want DeadlineExceeded, maybe executed", err)
	}
	if s, err := String(db0.Do(ctx, "GET", "k")); err != nil || s != "in-db0" {
		t.Fatalf("GET k in database 0 after that: %q, %v; want \"in-db0\" (it ran in database 1)", s, err)
	}
	if s, err := String(db1.Do(ctx, "GET", "k")); err != nil || s != "in-db1" {
		t.Fatalf("GET k in database 1: %q, %v; want \"in-db1\"", s, err)
	}
}

// pastDeadline is a ctx whose deadline has passed while its Err is still
// nil and it has no Done channel: what a direct round trip sees when the
// deadline passes between its check of ctx and its write.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Second), true }
func (pastDeadline) Done() <-chan struct{}       { return nil }
func (pastDeadline) Err() error                  { return nil }

// TestDirectWriteInterruptedKeepsTheStream: a direct round trip whose ctx
// ends just before its write fails NotExecuted and leaves the connection's
// count of bytes sent as it was. It used to count the unsent bytes as sent
// but not as written, and from then on the connection's failure took the
// last written command for one that never went out: a non-idempotent INCR
// that the server had run was replayed on the next connection (and run
// twice), where it must fail as maybe executed. A fake server over real
// TCP (direct mode needs a socket) that runs the INCR and then drops the
// connection.
func TestDirectWriteInterruptedKeepsTheStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fs := &fakeServer{t: t, conns: make(chan *fakeConn, 4)}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			fs.conns <- &fakeConn{t: t, nc: nc, rd: resp.NewReader(nc, resp.Limits{})}
		}
	}()
	m := newMux(t, Config{Endpoints: []string{ln.Addr().String()}, ConnectRetry: 1, ConnectTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	db := m.Database(0)

	fc := pinged(t, fs, db)
	c := m.single.cc.Load()
	if c.mode.Load() != modeDirect {
		t.Fatal("want the connection in direct mode")
	}
	offset, written := c.offset, c.written
	if _, err := db.Do(pastDeadline{ctx}, "PING"); !errors.Is(err, context.DeadlineExceeded) || !NotExecuted(err) {
		t.Fatalf("PING whose deadline passed before its write: %v; want DeadlineExceeded, not executed", err)
	}
	if c.offset != offset || c.written != written {
		t.Fatalf("after a write that sent nothing: offset %d, written %d; want both as before (%d, %d)", c.offset, c.written, offset, written)
	}

	f := db.Command(ctx, "PING") // switches the connection to pipelined mode
	fc.expect("PING")
	fc.reply(resp.SimpleString("PONG"))
	if _, err := f.Reply(ctx); err != nil {
		t.Fatal(err)
	}
	ch := goDo(ctx, db, "INCR", "n")
	fc.expect("INCR", "n")
	_ = fc.nc.Close() // it ran; the connection breaks before its reply
	if r := wait(t, ch); !MaybeExecuted(r.err) {
		t.Fatalf("INCR written whole, connection lost before its reply: %v, %v; want an error saying it may have run", r.v, r.err)
	}
}

// TestSetReadOnlyInDirectMode: READONLY, said on a connection that is idle
// in direct mode (Node.SetReadOnly, for a replica the router starts to read
// from), goes out at once. It used to wait in the queue, which nothing in
// direct mode writes, while reads went out as direct round trips without it.
func TestSetReadOnlyInDirectMode(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	m := newMux(t, Config{Endpoints: []string{srv.Addr()}})
	if _, err := m.Database(0).Do(ctx, "PING"); err != nil {
		t.Fatal(err)
	}
	n := m.Node(srv.Addr())
	if c := n.cc.Load(); c == nil || c.mode.Load() != modeDirect {
		t.Fatal("want a connection in direct mode")
	}
	n.SetReadOnly()
	// A server without cluster support refuses READONLY, and counts it.
	waitFor(t, "the server to see READONLY", func() bool {
		v, err := srv.Do(ctx, "INFO", "commandstats")
		return err == nil && strings.Contains(v.Str, "cmdstat_readonly:")
	})
	if _, err := m.Database(0).Do(ctx, "PING"); err != nil {
		t.Fatalf("a command after the refused READONLY: %v", err)
	}
}

// troubleRouter is oneNodeRouter counting the trouble it is told of.
type troubleRouter struct {
	oneNodeRouter
	trouble atomic.Int32
}

func (r *troubleRouter) Trouble(*Node, error) { r.trouble.Add(1) }

// TestPassedDeadlineIsNotNodeTrouble: a direct round trip whose deadline
// has passed (its ctx's timer not fired yet) fails at once, not sent, and
// the router hears of no trouble with the node. It used to be taken for a
// failure of the node: re-routed, with backoff, retried, and the router
// told each time (a cluster router refreshes its topology then).
func TestPassedDeadlineIsNotNodeTrouble(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	var router *troubleRouter
	m, err := NewWithRouter(Config{Endpoints: []string{srv.Addr()}}, func(m *Mux) (Router, error) {
		router = &troubleRouter{oneNodeRouter: oneNodeRouter{m: m, addr: srv.Addr()}}
		return router, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if c := m.Node(srv.Addr()).cc.Load(); c == nil || c.mode.Load() != modeDirect {
		t.Fatal("want a connection in direct mode")
	}
	start := time.Now()
	if _, err := db.Do(pastDeadline{ctx}, "GET", "k"); !errors.Is(err, context.DeadlineExceeded) || !NotExecuted(err) {
		t.Fatalf("GET whose deadline passed: %v; want DeadlineExceeded, not executed", err)
	}
	if n := router.trouble.Load(); n != 0 {
		t.Errorf("the router was told of trouble %d times (after %v)", n, time.Since(start))
	}
}
