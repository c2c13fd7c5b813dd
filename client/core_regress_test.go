package client

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// pinged has db's connection made, by a PING that fs answers, and
// returns fs's side of it.
func pinged(t *testing.T, fs *fakeServer, db Database) *fakeConn {
	t.Helper()
	ch := goDo(testCtx(t), db, "PING")
	fc := fs.accept()
	fc.expect("PING")
	fc.reply(resp.SimpleString("PONG"))
	if r := wait(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	return fc
}

// waitTurnedAway waits until n requests the server turned away wait on m's
// connection for their re-send (retryQ).
func waitTurnedAway(t *testing.T, m *Mux, n int) {
	t.Helper()
	c := m.single.cc.Load()
	waitFor(t, "the turned-away requests to wait for their re-send", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.retryQ) == n
	})
}

// goroutineIn reports whether some goroutine's stack holds fn.
func goroutineIn(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}

// When a lone caller's peek finds that the server closed the idle
// connection, it fails the connection holding directMu, as close does.
// It released directMu first, and a caller switching the connection to
// pipelined mode in that gap started its goroutines, which then closed
// the channels endDirect had closed: the program died ("close of closed
// channel"). The test stops the first caller inside the failure (holding
// c.mu, which fail takes) and makes the switch there.
func TestFakeIdleCloseVsSwitch(t *testing.T) {
	fs, cfg := newFakeTCP(t)
	m := newMux(t, cfg)
	ctx := testCtx(t)
	db := m.Database(0)
	fc := pinged(t, fs, db)
	c := m.single.cc.Load()
	if c.mode.Load() != modeDirect {
		t.Fatal("want the connection in direct mode")
	}
	_ = fc.nc.Close() // the server closes the idle connection
	waitFor(t, "the close to reach the client", func() bool {
		c.directMu.Lock()
		defer c.directMu.Unlock()
		closed, _ := c.peek.closed()
		return closed
	})

	c.mu.Lock() // the first caller's fail waits here
	ch := goDo(ctx, db, "PING")
	waitFor(t, "the first caller to fail the connection", func() bool { return goroutineIn("(*conn).fail(") })
	if c.directMu.TryLock() { // free only on the old code
		c.directMu.Unlock()
		c.wantPipelined.Store(true)
		c.maybeSwitch()
	}
	c.mu.Unlock()

	fc = fs.accept() // the first caller's command, on a new connection
	fc.expect("PING")
	fc.reply(resp.SimpleString("PONG"))
	if r := wait(t, ch); r.err != nil || r.v.Str != "PONG" {
		t.Fatalf("PING after the idle close: %v, %v", r.v, r.err)
	}
}

// A lone caller with a fresh ctx per command, cancelled as it returns (the
// usual defer cancel()): the interrupt still registered for the previous
// ctx could fire once the next round trip had armed but not yet swapped in
// its own ctx, and cut it short. The write failed with nothing sent, the
// connection was torn down as if timed out, and with Retries(0) the
// caller got the error (34 in 20,000 under -race).
func TestDirectStaleInterrupt(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	var dials atomic.Int32
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	db := m.Database(0).With(Retries(0))
	bg := testCtx(t)
	for i := range scaled(5000) {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		_, err := db.Do(ctx, "INCR", "n")
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}

// A failed connection's requests are replayed in the order they were
// issued. One the server turned away (LOADING), waiting to be re-sent, was
// issued before those still in flight, whose replies come after its own;
// it was replayed after them: SET k v, then GET k (read-only, replayed)
// came out as GET, SET on the new connection.
func TestFakeReplayKeepsOrderAfterNotNow(t *testing.T) {
	fs, cfg := newFake(t)
	m := newMux(t, cfg)
	ctx := testCtx(t)
	db := m.Database(0)
	fc := pinged(t, fs, db)
	set := db.Command(ctx, "SET", "k", "v")
	get := db.Command(ctx, "GET", "k")
	fc.expect("SET", "k", "v")
	fc.expect("GET", "k")
	fc.reply(resp.ErrorValue("LOADING Redis is loading the dataset in memory"))
	waitTurnedAway(t, m, 1)
	_ = fc.nc.Close()
	fc = fs.accept()
	fc.expect("SET", "k", "v")
	fc.expect("GET", "k")
	fc.reply(resp.SimpleString("OK"), resp.Bulk("v"))
	if _, err := set.Reply(ctx); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := get.Reply(ctx); err != nil || v.Str != "v" {
		t.Fatalf("GET: %v, %v", v, err)
	}
}

// A lone caller's connection that the server closed while idle (its
// timeout setting, CLIENT KILL) costs the next command nothing: it was
// never sent, and a pipelined reader would have seen the close at once and
// redialled. The direct path found out only at that command and charged
// its retry budget: with Retries(0) it failed.
func TestDirectIdleCloseCostsNoRetry(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	db := m.Database(0).With(Retries(0))
	if _, err := db.Do(ctx, "PING"); err != nil {
		t.Fatal(err)
	}
	c := m.single.cc.Load()
	if c.mode.Load() != modeDirect {
		t.Fatal("want the connection in direct mode")
	}
	if _, err := srv.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close to reach the client", func() bool {
		c.directMu.Lock()
		defer c.directMu.Unlock()
		closed, _ := c.peek.closed()
		return closed
	})
	if _, err := db.Do(ctx, "PING"); err != nil {
		t.Fatalf("PING after the idle close: %v", err)
	}
}

// promotedRouter sends reads to b as a replica until promoted is set; from
// then on b is the slot's master, and everything goes to it.
type promotedRouter struct {
	m        *Mux
	promoted atomic.Bool
}

func (r *promotedRouter) Sharded() bool      { return true }
func (r *promotedRouter) KeySlot(string) int { return 7 }
func (r *promotedRouter) Node(_ context.Context, _ int, readOnly bool) (*Node, error) {
	if readOnly || r.promoted.Load() {
		n := r.m.Node("b:6379")
		if !r.promoted.Load() {
			n.SetReadOnly()
		}
		return n, nil
	}
	return r.m.Node("a:6379"), nil
}
func (r *promotedRouter) Moved(int, string)    {}
func (r *promotedRouter) Trouble(*Node, error) {}
func (r *promotedRouter) Close()               {}

// A replica promoted to master keeps its read-only flag; a read the router
// sends to it as the master, answered LOADING, was re-routed at once as a
// replica read, to the same node, without the pause a master gets: a
// budget of retries was spent in microseconds. It pauses now.
func TestFakePromotedReplicaLoadingPauses(t *testing.T) {
	servers, cfg := newFakes(t, "a:6379", "b:6379")
	servers["b:6379"].commands = false // the Mux asks COMMAND once, of the first
	var router *promotedRouter
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) {
		router = &promotedRouter{m: m}
		return router, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := testCtx(t)
	db := m.Database(0).With(Retries(1))
	ch := goDo(ctx, db, "GET", "k")
	bc := servers["b:6379"].accept()
	bc.expect("READONLY")
	bc.write([]byte("+OK\r\n"))
	bc.expect("GET", "k")
	bc.reply(resp.Bulk("v"))
	if r := wait(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	router.promoted.Store(true) // a failover: b is the master now, and loading
	start := time.Now()
	ch = goDo(ctx, db, "GET", "k")
	bc.expect("GET", "k")
	bc.write([]byte("-LOADING Redis is loading the dataset in memory\r\n"))
	bc.expect("GET", "k")
	if waited := time.Since(start); waited < loadingPause*9/10 {
		t.Fatalf("re-sent after %v, want the %v pause", waited, loadingPause)
	}
	bc.reply(resp.Bulk("v"))
	if r := wait(t, ch); r.err != nil || r.v.Str != "v" {
		t.Fatalf("got %v, %v", r.v, r.err)
	}
}

// A failed connection replays in issue order also when a request the
// server turned away was written again (its pause over) while one issued
// after it, still in flight, was turned away in turn: GET k, SET k v came
// out as SET, GET. drain orders by each request's first write (seq).
func TestFakeReplayKeepsOrderAfterRewrite(t *testing.T) {
	fs, cfg := newFake(t)
	m := newMux(t, cfg)
	ctx := testCtx(t)
	db := m.Database(0)
	fc := pinged(t, fs, db)
	get := db.Command(ctx, "GET", "k")
	set := db.Command(ctx, "SET", "k", "v")
	fc.expect("GET", "k")
	fc.expect("SET", "k", "v")
	fc.reply(resp.ErrorValue("TRYAGAIN Multiple keys request during rehashing of slot"))
	// GET, written again after the pause, while SET is still in flight;
	// then SET is turned away in turn.
	fc.expect("GET", "k")
	fc.reply(resp.ErrorValue("TRYAGAIN Multiple keys request during rehashing of slot"))
	waitTurnedAway(t, m, 1)
	_ = fc.nc.Close()
	fc = fs.accept()
	fc.expect("GET", "k")
	fc.expect("SET", "k", "v")
	fc.reply(resp.Null(), resp.SimpleString("OK"))
	if _, err := get.Reply(ctx); err != nil {
		t.Fatalf("GET: %v", err)
	}
	if _, err := set.Reply(ctx); err != nil {
		t.Fatalf("SET: %v", err)
	}
}

// A blocking read that a replica turns away as LOADING goes to another
// node at once, as a pipelined read does; it waited on the replica,
// pausing between tries.
func TestFakeBlockingReplicaReadGoesElsewhere(t *testing.T) {
	servers, m, router := replicaFakes(t, "master:6379")
	ch := goDo(testCtx(t), m.Database(0).With(Retries(1)), "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
	// XREAD's keys are movable: the client asks the master's shared
	// connection (the first, which is asked COMMAND) where they are.
	shared := servers["master:6379"].accept()
	shared.expect("COMMAND", "GETKEYS", "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
	shared.reply(resp.Array(resp.Bulk("s")))
	rc := servers["replica:6379"].accept()
	rc.expect("READONLY")
	rc.write([]byte("+OK\r\n"))
	rc.expect("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
	rc.write([]byte("-LOADING Redis is loading the dataset in memory\r\n"))
	mc := servers["master:6379"].accept()
	mc.expect("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
	mc.write([]byte("*-1\r\n"))
	if r := wait(t, ch); r.err != nil || !r.v.IsNull() {
		t.Fatalf("got %v, %v; want the master's null", r.v, r.err)
	}
	if !router.troubled.Load() {
		t.Fatal("the router did not hear of the replica")
	}
}
