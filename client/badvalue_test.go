package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
)

// newFakeTCP is newFake over loopback TCP instead of net.Pipe: a plain
// socket, so a lone caller's commands take the direct round-trip path
// (conn_direct.go) that a pipe never does.
func newFakeTCP(t *testing.T) (*fakeServer, Config) {
	t.Helper()
	fs, cfg := newFake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	cfg.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		srv, err := ln.Accept()
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		t.Cleanup(func() { _ = srv.Close() })
		fs.conns <- &fakeConn{t: t, nc: srv, rd: resp.NewReader(srv, resp.Limits{})}
		return nc, nil
	}
	return fs, cfg
}

// A reply that is malformed in a sound frame (a number that does not
// parse, on a line that ends in CRLF) costs that reply alone: its caller
// gets a protocol error that says the command may have run, every other
// caller gets its own reply, and the shared connection goes on (no redial).
// Before, the error failed the connection and every command in flight on it.
func TestFakeBadValueCostsItsReplyAlone(t *testing.T) {
	for name, fake := range map[string]func(*testing.T) (*fakeServer, Config){"pipe": newFake, "tcp": newFakeTCP} {
		t.Run(name, func(t *testing.T) {
			fs, cfg := fake(t)
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			db := m.Database(0)

			// A lone caller (on TCP, a direct round trip).
			ch := goDo(ctx, db, "INCR", "n")
			fc := fs.accept()
			fc.expect("INCR", "n")
			fc.write([]byte(":12a\r\n"))
			r := wait(t, ch)
			if !errors.Is(r.err, resp.ErrInvalidNumber) || !errors.Is(r.err, resp.ErrProtocol) || errors.Is(r.err, ErrConnection) {
				t.Fatalf("bad integer: got %v, want a protocol error that is not the connection's", r.err)
			}
			if !MaybeExecuted(r.err) || NotExecuted(r.err) {
				t.Fatalf("an answered INCR may have run: %v", r.err)
			}

			// A bad push belongs to nobody; the reply after it is read.
			ch = goDo(ctx, db, "GET", "b")
			fc.expect("GET", "b")
			fc.write([]byte(">2\r\n+invalidate\r\n:x\r\n$1\r\nv\r\n"))
			if r := wait(t, ch); r.err != nil || r.v.Str != "v" {
				t.Fatalf("after a bad push: %v, %v; want v", r.v, r.err)
			}
			if n := m.Stats().StrayPushes; n != 1 {
				t.Fatalf("StrayPushes = %d after a bad push, want 1", n)
			}

			// Pipelined: the first reply is bad inside an array, the
			// second is good.
			f1 := db.Command(ctx, "LRANGE", "l", "0", "-1")
			f2 := db.Command(ctx, "GET", "c")
			fc.expect("LRANGE", "l", "0", "-1")
			fc.expect("GET", "c")
			fc.write([]byte("*2\r\n:1\r\n,zz\r\n$2\r\nvc\r\n"))
			if _, err := f1.Reply(ctx); !errors.Is(err, resp.ErrInvalidNumber) {
				t.Fatalf("bad double in an array: got %v", err)
			}
			if v, err := f2.Reply(ctx); err != nil || v.Str != "vc" {
				t.Fatalf("the next caller got %v, %v; want vc", v, err)
			}

			// A transaction (one request, several replies) gets the error
			// once all its replies are in; the command after it is fine.
			done := make(chan error, 1)
			var fa *Future
			go func() {
				tx := db.Multi()
				fa = tx.Command("GET", "a")
				done <- tx.Exec(ctx)
			}()
			for _, want := range [][]string{{"MULTI"}, {"GET", "a"}, {"EXEC"}} {
				fc.expect(want...)
			}
			fc.write([]byte("+OK\r\n#maybe\r\n*1\r\n$2\r\nva\r\n"))
			if err := <-done; !errors.Is(err, resp.ErrInvalidNumber) {
				t.Fatalf("transaction with a bad QUEUED: Exec = %v", err)
			}
			if _, err := fa.Reply(ctx); err == nil {
				t.Fatal("a future of the failed transaction has a reply")
			}
			ch = goDo(ctx, db, "GET", "z")
			fc.expect("GET", "z")
			fc.reply(resp.Bulk("vz"))
			if r := wait(t, ch); r.err != nil || r.v.Str != "vz" {
				t.Fatalf("after the transaction: %v, %v", r.v, r.err)
			}

			fs.noDial("the client dialled again: a bad value failed the connection")
		})
	}
}

// On a dedicated connection too, a bad value in a sound frame is that
// command's error; the connection is not broken, and a bad push before a
// reply is skipped.
func TestFakeBadValueOnDedicatedConn(t *testing.T) {
	fs, cfg := newFake(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	type step struct {
		v   resp.Value
		err error
	}
	got := make(chan step, 3)
	done := make(chan error, 1)
	go func() {
		done <- m.Dedicated(ctx, func(c *Conn) error {
			for _, key := range []string{"a", "b", "c"} {
				v, err := c.Do(ctx, "GET", key)
				got <- step{v, err}
			}
			return nil
		})
	}()
	fs.commands = true // a dedicated connection does not ask COMMAND
	fc := fs.accept()
	fc.expect("GET", "a")
	fc.write([]byte("#maybe\r\n"))
	fc.expect("GET", "b")
	fc.write([]byte(">2\r\n+invalidate\r\n,oops\r\n$2\r\nvb\r\n"))
	fc.expect("GET", "c")
	fc.write([]byte("$2\r\nvc\r\n"))
	if s := <-got; !errors.Is(s.err, resp.ErrInvalidNumber) || errors.Is(s.err, ErrConnBroken) || !MaybeExecuted(s.err) {
		t.Fatalf("GET a: %v, %v; want its own protocol error", s.v, s.err)
	}
	if s := <-got; s.err != nil || s.v.Str != "vb" {
		t.Fatalf("GET b after a bad push: %v, %v; want vb", s.v, s.err)
	}
	if s := <-got; s.err != nil || s.v.Str != "vc" {
		t.Fatalf("GET c: %v, %v; want vc (the connection is not broken)", s.v, s.err)
	}
	_ = fc.nc.Close() // the reset on return fails: the connection is dropped
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Under a sharded router, a read-only command whose reply is malformed in
// a sound frame is not sent again elsewhere, and the node is not reported
// in trouble: the reply was the server's answer. A connection failure that
// wraps such an error (a bad handshake reply) is still the connection's,
// and a command it failed before sending is rerouted.
func TestFakeBadValueNotRerouted(t *testing.T) {
	fs, m, router := fakeRecorded(t)
	ctx := testCtx(t)
	ch := goDo(ctx, m.Database(0), "GET", "k") // read-only: safe to send again
	fc := fs.accept()
	fc.expect("GET", "k")
	fc.write([]byte(",nope\r\n"))
	if r := wait(t, ch); !errors.Is(r.err, resp.ErrInvalidNumber) || errors.Is(r.err, ErrConnection) {
		t.Fatalf("got %v, %v; want the bad reply's protocol error", r.v, r.err)
	}
	router.mu.Lock()
	troubles := slices.Clone(router.troubles)
	router.mu.Unlock()
	if len(troubles) != 0 || router.routes.Load() != 1 {
		t.Fatalf("routed %d times, troubles %v; want one route and no trouble", router.routes.Load(), troubles)
	}
	fs.noDial("the client dialled again")

	// The wrapped case, as call.outcome sees it.
	wrapped := connErr("handshake", &resp.ProtocolError{Err: resp.ErrInvalidNumber, Framed: resp.TypeMap})
	r := getRequest()
	r.retries = 3
	r.fail(wrapped, NotSent)
	<-r.done
	cl := call{m: m, r: r, c: &conn{addr: "fake:6379"}}
	if _, _, what := cl.outcome(ctx); what != nextReroute {
		t.Fatalf("a connection failure wrapping a framed error: next %v, want nextReroute", what)
	}
	putRequest(r)
}

// A SocketTimeout shorter than the watchdog's tick can be is used as it is,
// without a panic (time.NewTicker of zero).
func TestTinySocketTimeoutDoesNotPanic(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.SocketTimeout = time.Nanosecond
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0).With(Retries(0)), "GET", "k")
	fc := fs.accept() // the connection and its watchdog start
	// The watchdog may fail the connection before or after the reply (a
	// socket timeout); either is fine, a crash is not.
	_ = fc.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fc.rd.ReadValue(); err == nil {
		_, _ = fc.nc.Write([]byte("$1\r\nv\r\n"))
	}
	if r := wait(t, ch); r.err != nil && !errors.Is(r.err, ErrConnection) || r.err == nil && r.v.Str != "v" {
		t.Fatalf("got %v, %v", r.v, r.err)
	}
}

// A blocking read-only command (here XREAD ... BLOCK, on a dedicated
// connection) whose reply is malformed in a sound frame gets that error
// and is not sent again.
func TestFakeBadValueBlockingNotRetried(t *testing.T) {
	fs, cfg := newFake(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ch := goDo(testCtx(t), m.Database(0), "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
	fs.commands = true // a dedicated connection does not ask COMMAND
	fc := fs.accept()
	fc.expect("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
	fc.write([]byte("*1\r\n*2\r\n$1\r\ns\r\n:x\r\n"))
	if r := wait(t, ch); !errors.Is(r.err, resp.ErrInvalidNumber) || errors.Is(r.err, ErrConnection) || !MaybeExecuted(r.err) {
		t.Fatalf("got %v, %v; want the bad reply's protocol error", r.v, r.err)
	}
	fs.noDial("the blocking command was sent again")
}
