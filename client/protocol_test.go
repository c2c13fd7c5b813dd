package client

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
)

func TestFakeRepliesSplitAtEveryByte(t *testing.T) {
	fs, cfg := newFake(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	db := m.Database(0)
	ch := goDo(ctx, db, "GET", "k")
	fc := fs.accept()
	fc.expect("GET", "k")
	wire := resp.AppendValue(nil, resp.Array(resp.Bulk("hello"), resp.Map(resp.Bulk("a"), resp.Double(1.5)), resp.Null()))
	for i := range wire {
		fc.write(wire[i : i+1])
	}
	r := wait(t, ch)
	want := resp.Array(resp.Bulk("hello"), resp.Map(resp.Bulk("a"), resp.Double(1.5)), resp.Null())
	if r.err != nil || !r.v.Equal(want) {
		t.Fatalf("got %v, %v; want %v", r.v, r.err, want)
	}
}

func TestFakeStrayPushIsCountedNotDelivered(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0), "GET", "k")
	fc := fs.accept()
	fc.expect("GET", "k")
	fc.reply(resp.Push(resp.Bulk("invalidate"), resp.Array(resp.Bulk("k"))), resp.Bulk("v"))
	if r := wait(t, ch); r.err != nil || r.v.Str != "v" {
		t.Fatalf("got %v, %v", r.v, r.err)
	}
	if n := m.Stats().StrayPushes; n != 1 {
		t.Fatalf("StrayPushes = %d, want 1", n)
	}
}

// A reply nobody asked for means the stream can no longer be trusted: the
// connection fails, and the next command gets a new one.
func TestFakeUnexpectedReplyFailsTheConnection(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ctx := context.Background()
	db := m.Database(0).With(Retries(0))
	ch := goDo(ctx, db, "INCR", "n")
	fc := fs.accept()
	fc.expect("INCR", "n")
	fc.reply(resp.Int(1))
	if r := wait(t, ch); r.err != nil || r.v.Int != 1 {
		t.Fatalf("got %v, %v", r.v, r.err)
	}
	fc.reply(resp.Int(2)) // stray
	// The client notices on its reader goroutine; the next command either
	// finds the failed connection and redials, or was queued on it just
	// before and fails as not sent (retried: INCR is not read-only, but
	// it was never sent).
	ch = goDo(ctx, m.Database(0), "INCR", "n")
	fc2 := fs.accept()
	fc2.expect("INCR", "n")
	fc2.reply(resp.Int(3))
	if r := wait(t, ch); r.err != nil || r.v.Int != 3 {
		t.Fatalf("after the stray reply: %v, %v", r.v, r.err)
	}
}

// Garbage from the server: the written command fails with a protocol error
// and MaybeExecuted (it was sent); a write is not retried.
func TestFakeMalformedReply(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0), "INCR", "n")
	fc := fs.accept()
	fc.expect("INCR", "n")
	fc.write([]byte("$-7\r\n"))
	r := wait(t, ch)
	if !errors.Is(r.err, resp.ErrProtocol) || !errors.Is(r.err, resp.ErrInvalidLength) || !errors.Is(r.err, ErrConnection) {
		t.Fatalf("got %v, want a protocol error", r.err)
	}
	if !MaybeExecuted(r.err) || NotExecuted(r.err) {
		t.Fatalf("a sent INCR must be MaybeExecuted: %v", r.err)
	}
}

// A read-only command whose connection dies after sending is retried.
func TestFakeReadOnlyRetriedAfterSend(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0), "GET", "k")
	fc := fs.accept()
	fc.expect("GET", "k")
	_ = fc.nc.Close()
	fc2 := fs.accept()
	fc2.expect("GET", "k")
	fc2.reply(resp.Bulk("v"))
	if r := wait(t, ch); r.err != nil || r.v.Str != "v" {
		t.Fatalf("got %v, %v", r.v, r.err)
	}
}

// A write whose connection dies after sending is NOT retried.
func TestFakeWriteNotRetriedAfterSend(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0), "INCR", "n")
	fc := fs.accept()
	fc.expect("INCR", "n")
	_ = fc.nc.Close()
	r := wait(t, ch)
	var re *RequestError
	if !errors.As(r.err, &re) || re.Exec != MaybeSent || re.Attempts != 1 || !errors.Is(r.err, ErrConnection) {
		t.Fatalf("got %v, want MaybeSent after one attempt", r.err)
	}
	// Marked idempotent, the same failure is retried.
	ch = goDo(context.Background(), m.Database(0).With(Idempotent(true)), "SET", "k", "v")
	fc = fs.accept()
	fc.expect("SET", "k", "v")
	_ = fc.nc.Close()
	fc = fs.accept()
	fc.expect("SET", "k", "v")
	fc.reply(resp.SimpleString("OK"))
	if r := wait(t, ch); r.err != nil || r.v.Str != "OK" {
		t.Fatalf("idempotent retry: %v, %v", r.v, r.err)
	}
}

func TestFakeHandshakeFallsBackToRESP2(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.Password = "secret"
	cfg.ClientName = "app"
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0), "GET", "k")
	fc := <-fs.conns
	fc.expect("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "app")
	fc.reply(resp.ErrorValue("ERR unknown command 'HELLO', with args beginning with: '3'"))
	fc.expect("AUTH", "secret")
	fc.reply(resp.SimpleString("OK"))
	fc.expect("CLIENT", "SETNAME", "app")
	fc.reply(resp.SimpleString("OK"))
	fc.expect("PING")
	fc.reply(resp.SimpleString("PONG"))
	fc.expect("COMMAND")
	fc.reply(resp.ErrorValue("NOPERM this user has no permissions to run the 'command' command"))
	fc.expect("GET", "k")
	fc.reply(resp.Bulk("v"))
	if r := wait(t, ch); r.err != nil || r.v.Str != "v" {
		t.Fatalf("got %v, %v", r.v, r.err)
	}
}

func TestFakeAuthFailureIsFinal(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.Password = "wrong"
	cfg.ConnectRetry = 5
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0), "GET", "k")
	fc := <-fs.conns
	fc.expect("HELLO", "3", "AUTH", "default", "wrong")
	fc.reply(resp.ErrorValue("WRONGPASS invalid username-password pair or user is disabled."))
	r := wait(t, ch)
	if !errors.Is(r.err, ErrAuth) || !NotExecuted(r.err) || resp.ErrorPrefix(r.err) != "WRONGPASS" {
		t.Fatalf("got %v, want ErrAuth with the server's WRONGPASS", r.err)
	}
	// No redial loop: the dial gave up at once, and the next command
	// within the hold-down fails without dialling.
	if _, err := m.Database(0).Do(context.Background(), "GET", "k"); !errors.Is(err, ErrAuth) {
		t.Fatalf("second command: %v", err)
	}
	fs.noDial("the client redialled after an authentication failure")
}

func TestRefusedCommands(t *testing.T) {
	_, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	db := m.Database(0)
	for _, args := range [][]any{
		{"SUBSCRIBE", "ch"}, {"psubscribe", "p*"}, {"MONITOR"}, {"MULTI"}, {"EXEC"}, {"DISCARD"},
		{"WATCH", "k"}, {"UNWATCH"}, {"SELECT", 1}, {"AUTH", "x"}, {"HELLO", "3"}, {"RESET"}, {"CLIENT", "REPLY", "OFF"},
		{"client", "tracking", "on"}, {[]byte("QUIT")}, {"READONLY"}, {"ASKING"},
	} {
		_, err := db.Do(context.Background(), args...)
		var ce *CommandError
		if !errors.Is(err, ErrNotAllowed) || !errors.As(err, &ce) || ce.Reason == "" || !NotExecuted(err) {
			t.Errorf("%v: got %v, want ErrNotAllowed", args, err)
		}
	}
	if _, err := db.Do(context.Background()); !errors.Is(err, ErrEmptyCommand) {
		t.Errorf("empty command: %v", err)
	}
	if _, err := db.Do(context.Background(), 42); !errors.Is(err, ErrEmptyCommand) {
		t.Errorf("non-string command name: %v", err)
	}
	type opaque struct{ x int }
	_, err := db.Do(context.Background(), "SET", "k", opaque{1})
	var ae *resp.ArgError
	if !errors.Is(err, resp.ErrUnsupportedArg) || !errors.As(err, &ae) || ae.Index != 2 || !NotExecuted(err) {
		t.Errorf("unencodable argument: %v", err)
	}
}

// failingConn passes the first n bytes written through, then fails writes:
// a connection that dies in the middle of a batch.
type failingConn struct {
	net.Conn
	mu   sync.Mutex
	left int
}

func (f *failingConn) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(b) <= f.left {
		f.left -= len(b)
		return f.Conn.Write(b)
	}
	n, _ := f.Conn.Write(b[:f.left])
	f.left = 0
	_ = f.Conn.Close()
	return n, errors.New("injected write failure")
}

// A write that dies part way: the command whose bytes all reached the
// kernel may have run; those cut off or never written provably did not.
func TestPartialWriteClassification(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.Dialer = cutAfterFirstCommand(cfg.Dialer)
	cfg.ConnectRetry = 1
	m, _ := New(cfg)
	defer m.Close()
	ctx := context.Background()
	db := m.Database(0).With(Retries(0))
	issued := issue(ctx, db, []any{"INCR", "a"}, []any{"INCR", "b"}, []any{"INCR", "c"})
	readUntilClosed(t, fs.accept())
	fut := receive(t, issued)
	_, err1 := fut[0].Reply(ctx)
	_, err2 := fut[1].Reply(ctx)
	_, err3 := fut[2].Reply(ctx)
	if !MaybeExecuted(err1) {
		t.Errorf("first INCR (all bytes written): %v, want MaybeExecuted", err1)
	}
	if !NotExecuted(err2) || !NotExecuted(err3) {
		t.Errorf("cut-off INCRs: %v / %v, want NotExecuted", err2, err3)
	}
}

// Commands cut off by a failed write provably did not run: they are re-sent
// on a new connection, in order, while the one that was written whole is not
// (INCR is not read-only) and says MaybeExecuted.
func TestCutOffWritesAreRetriedOnANewConnection(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.Dialer = cutAfterFirstCommand(cfg.Dialer)
	m, _ := New(cfg)
	defer m.Close()
	ctx := context.Background()
	issued := issue(ctx, m.Database(0), []any{"INCR", "a"}, []any{"INCR", "b"}, []any{"INCR", "c"})
	readUntilClosed(t, fs.accept())
	fc := fs.accept()
	fc.expect("INCR", "b") // re-sent in their original order
	fc.reply(resp.Int(10))
	fc.expect("INCR", "c")
	fc.reply(resp.Int(11))
	fut := receive(t, issued)
	if _, err := fut[0].Reply(ctx); !MaybeExecuted(err) {
		t.Fatalf("INCR a: %v, want MaybeExecuted", err)
	}
	for i, f := range fut[1:] {
		if n, err := Int64(f.Reply(ctx)); err != nil || n != int64(10+i) {
			t.Fatalf("re-sent INCR: %d, %v", n, err)
		}
	}
}

// cutAfterFirstCommand wraps a dialer: on the first connection, writes fail
// 3 bytes into the second command after the handshake.
func cutAfterFirstCommand(dial DialFunc) DialFunc {
	budget := len(resp.AppendCommandStrings(nil, "HELLO", "3")) + len(resp.AppendCommandStrings(nil, "COMMAND")) +
		len(resp.AppendCommandStrings(nil, "INCR", "a")) + 3
	var dials atomic.Int32
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err == nil && dials.Add(1) == 1 {
			return &failingConn{Conn: nc, left: budget}, nil
		}
		return nc, err
	}
}

// issue sends commands with Database.Command from another goroutine (the
// first one dials, which needs the test goroutine to play the server).
func issue(ctx context.Context, db Database, cmds ...[]any) <-chan []*Future {
	ch := make(chan []*Future, 1)
	go func() {
		var fs []*Future
		for _, args := range cmds {
			fs = append(fs, db.Command(ctx, args...))
		}
		ch <- fs
	}()
	return ch
}

func receive(t *testing.T, ch <-chan []*Future) []*Future {
	t.Helper()
	select {
	case fs := <-ch:
		return fs
	case <-time.After(10 * time.Second):
		t.Fatal("the commands were not issued within 10s")
		return nil
	}
}

// readUntilClosed reads and discards what the client sends until it closes
// the connection (within 10s).
func readUntilClosed(t *testing.T, fc *fakeConn) {
	t.Helper()
	_ = fc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	for {
		if _, err := fc.nc.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the client did not close the connection")
			}
			return
		}
	}
}

// A full queue makes callers wait, and the wait honours their ctx: the
// command is then never sent.
func TestFakeQueueBackpressure(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.QueueSize = 2
	m, _ := New(cfg)
	defer m.Close()
	ctx := context.Background()
	db := m.Database(0)
	first := goDo(ctx, db, "GET", "a")
	fc := fs.accept()
	// The fake reads nothing more: the writer blocks in Write with "GET a"
	// (net.Pipe has no buffer), and the queue fills up behind it.
	waitFor(t, "the first command to be taken by the writer", func() bool {
		c := m.single.cc.Load()
		return c != nil && c.outstanding.Load() == 1
	})
	queued := []<-chan result{goDo(ctx, db, "GET", "b"), goDo(ctx, db, "GET", "c")}
	waitFor(t, "the queue to fill", func() bool {
		c := m.single.cc.Load()
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == 2
	})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := db.Do(short, "GET", "d")
	if !errors.Is(err, context.DeadlineExceeded) || !NotExecuted(err) {
		t.Fatalf("a caller waiting for room: %v, want DeadlineExceeded and NotExecuted", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the wait for room ignored the ctx")
	}
	// Now the server catches up: everyone queued gets its own reply.
	for i := 0; i < 3; i++ { // b and c were queued by two goroutines, in either order
		args := fc.read()
		fc.reply(resp.Bulk("value of " + args[1]))
	}
	for i, ch := range append([]<-chan result{first}, queued...) {
		want := "value of " + []string{"a", "b", "c"}[i]
		if r := wait(t, ch); r.err != nil || r.v.Str != want {
			t.Fatalf("command %d: %v, %v; want %q", i, r.v, r.err, want)
		}
	}
}

// LOADING means the server did not run the command: it is retried after a
// pause, within the budget.
func TestFakeLoadingIsRetried(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0), "INCR", "n")
	fc := fs.accept()
	fc.expect("INCR", "n")
	fc.reply(resp.ErrorValue("LOADING Redis is loading the dataset in memory"))
	fc.expect("INCR", "n")
	fc.reply(resp.Int(1))
	if r := wait(t, ch); r.err != nil || r.v.Int != 1 {
		t.Fatalf("got %v, %v", r.v, r.err)
	}
}

// The retry budget is a count: a read-only command whose connection keeps
// dying is tried 1+Retries times, then fails with the count in its error.
func TestFakeRetryBudgetIsACount(t *testing.T) {
	fs, cfg := newFake(t)
	m, _ := New(cfg)
	defer m.Close()
	ch := goDo(context.Background(), m.Database(0).With(Retries(2)), "GET", "k")
	for i := 0; i < 3; i++ {
		fc := fs.accept()
		fc.expect("GET", "k")
		_ = fc.nc.Close()
	}
	r := wait(t, ch)
	var re *RequestError
	if !errors.As(r.err, &re) || re.Attempts != 3 || !MaybeExecuted(r.err) {
		t.Fatalf("got %v; want a MaybeExecuted failure after 3 attempts", r.err)
	}
	fs.noDial("a fourth attempt was made")
}

// Close does not wait out the deadline of a connection's set-up: here the
// first connection's COMMAND (the command table), which the server never
// answers. It used to take ConnectTimeout.
func TestCloseDuringConnectionSetUp(t *testing.T) {
	fs, cfg := newFake(t)
	cfg.ConnectTimeout = 10 * time.Second
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch := goDo(context.Background(), m.Database(0), "PING")
	var fc *fakeConn
	select {
	case fc = <-fs.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not connect")
	}
	fc.expect("HELLO", "3")
	fc.reply(resp.Map(resp.Bulk("server"), resp.Bulk("fake"), resp.Bulk("proto"), resp.Int(3)))
	fc.expect("COMMAND") // never answered
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v: it waited for the COMMAND round trip's deadline", took)
	}
	if r := wait(t, ch); !errors.Is(r.err, ErrClosed) && !NotExecuted(r.err) {
		t.Fatalf("the PING waiting for the connection: %v", r.err)
	}
}

// Settings that cannot work are refused by New, not found out by commands
// that wait for ever (a negative QueueSize admitted nothing to the queue).
func TestConfigRefused(t *testing.T) {
	for name, cfg := range map[string]Config{
		"Protocol 4":   {Protocol: 4},
		"QueueSize -1": {QueueSize: -1},
	} {
		if m, err := New(cfg); err == nil {
			_ = m.Close()
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// Two nodes set up at once: the first holds the command table's lock in
// its COMMAND round trip, the second waits for that lock. Close must
// interrupt both: the second, once it gets the lock, must not arm a fresh
// ConnectTimeout deadline over its interruption.
func TestCloseDuringTwoNodesSetUp(t *testing.T) {
	conns := map[string]chan *fakeConn{"a:6379": make(chan *fakeConn, 4), "b:6379": make(chan *fakeConn, 4)}
	cfg := Config{
		Endpoints:      []string{"a:6379"},
		ConnectTimeout: 10 * time.Second,
		ConnectRetry:   1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cli, srv := net.Pipe()
			conns[addr] <- &fakeConn{t: t, nc: srv, rd: resp.NewReader(srv, resp.Limits{})}
			return cli, nil
		},
	}
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) { return &oneNodeRouter{m: m, addr: "a:6379"}, nil })
	if err != nil {
		t.Fatal(err)
	}
	hello := func(fc *fakeConn) {
		fc.expect("HELLO", "3")
		fc.reply(resp.Map(resp.Bulk("server"), resp.Bulk("fake"), resp.Bulk("proto"), resp.Int(3)))
	}
	pings := make(chan error, 2)
	go func() { _, err := m.Node("a:6379").Do(context.Background(), "PING"); pings <- err }()
	a := <-conns["a:6379"]
	hello(a)
	a.expect("COMMAND") // never answered: a holds the lock
	go func() { _, err := m.Node("b:6379").Do(context.Background(), "PING"); pings <- err }()
	b := <-conns["b:6379"]
	hello(b)
	go func() { _, _ = io.Copy(io.Discard, b.nc) }() // b's COMMAND, if it comes, is never answered
	waitGoroutine(t, "b waiting for the command table's lock", "sync.(*Mutex).Lock", "afterConnect")
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v: the second node's set-up deadline replaced its interruption", took)
	}
	for range 2 {
		if err := <-pings; !NotExecuted(err) {
			t.Fatalf("a PING waiting for a connection: %v", err)
		}
	}
}
