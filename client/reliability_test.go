package client

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/faultinject"
	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// The reliability suite (issue #7): under every fault the proxy can inject,
// and under server kill, restart and pause, prove that nothing is lost,
// duplicated or misdelivered.
//
// Each fault runs against a private server behind a faultinject proxy, with
// one Mux and two loads on it while the fault is on:
//
//   - the counter invariant: relCounterWorkers goroutines INCR one key. Each
//     result is acknowledged (nil error), maybe executed (MaybeExecuted) or
//     not executed (NotExecuted, or a server reply saying it did not run,
//     such as LOADING); anything else is a violation. Afterwards the value,
//     read from the server directly, must satisfy acknowledged <= value <=
//     acknowledged + maybe: a NotExecuted that ran, or an INCR run twice,
//     breaks the upper bound; a lost acknowledged write, the lower. No two
//     acknowledged INCRs may reply the same number (a reply delivered twice,
//     or shifted onto another caller).
//   - the ownership invariant: relOwnerWorkers goroutines write keys of
//     their own in three databases (SET, MULTI SET GET EXEC, pipelined
//     futures, a script) and read them back (GET), some with contexts that
//     end early; a reply must be one the goroutine could have caused, and
//     afterwards every key must be in its goroutine's database (a lost
//     SELECT would leave it elsewhere). No operation may return more than
//     relHangSlack after its ctx ended.
//
// Then the fault is removed, and the recovery time is how long until a
// command through the same Mux succeeds (bounded by relRecovery). The loads
// must make progress again; then they stop, the counter is checked, and the
// goroutines and heap must return to their baseline, taken with the same
// Mux connected before the fault: reconnecting leaks nothing.
//
// The suite logs a table (fault, ops, acknowledged, maybe, not,
// violations, recovery) at the end.
func TestReliability(t *testing.T) {
	if testing.Short() {
		t.Skip("the reliability suite takes about a minute")
	}
	if slicing {
		t.Skip("runs through its own proxy; the slicer pass is for the rest of the suite")
	}
	var rows []*relRow
	for i, f := range relFaults() {
		row := &relRow{fault: f.name}
		rows = append(rows, row)
		t.Run(f.name, func(t *testing.T) { runFault(t, f, int64(100+i), row) })
	}
	t.Log("reliability table (counter invariant: INCRs on one key; violations include the ownership invariant, hangs and leaks):" + relTable(rows))
}

// Shape of each fault's run.
const (
	relCounterWorkers = 16
	relOwnerWorkers   = 16
	relFaultFor       = time.Second            // how long each fault stays on
	relTick           = 100 * time.Millisecond // period of repeated faults (cut, kill, ...)
	relSocketTimeout  = 500 * time.Millisecond // so that black holes and pauses are noticed
	relConnectTimeout = time.Second
)

// relEnv is what a fault acts on.
type relEnv struct {
	t   *testing.T
	ctx context.Context
	srv *redisserver.Server
	p   *faultinject.Proxy
}

// relFault is one fault of the suite.
type relFault struct {
	name string
	// aof: the server keeps an AOF fsynced before every reply, so that
	// acknowledged writes survive a SIGKILL.
	aof bool
	// resp2auth: the server wants a password and the client speaks RESP2,
	// so every reconnection runs the other handshake (AUTH, PING).
	resp2auth bool
	on        func(e *relEnv) error
	tick      func(e *relEnv) error // optional: repeated every relTick while the fault is on
	off       func(e *relEnv) error // optional
	// swallows: the fault drops bytes of open connections (a black hole).
	// Such a stream cannot be resumed (TCP never drops bytes in the middle
	// of a stream and then carries on), so before the fault is removed the
	// client must have given up every connection it opened before — its
	// SocketTimeout or ConnectTimeout must notice — or later bytes would be
	// spliced onto a truncated stream. Not giving them up is a violation.
	swallows bool
}

// The fault's timeline: on, then relFaultFor with tick every relTick, then
// off; the recovery time counts from off's return. A fault with neither
// tick nor off (a server restart) is over when on returns.
func (f relFault) instant() bool { return f.tick == nil && f.off == nil }

func toxic(name string, dir faultinject.Direction, tx faultinject.Toxic) (on, off func(e *relEnv) error) {
	return func(e *relEnv) error { return e.p.AddToxic(name, dir, tx, 1) },
		func(e *relEnv) error { return e.p.RemoveToxic(name) }
}

func bothWays(tx faultinject.Toxic) (on, off func(e *relEnv) error) {
	return func(e *relEnv) error {
			if err := e.p.AddToxic("up", faultinject.Upstream, tx, 1); err != nil {
				return err
			}
			return e.p.AddToxic("down", faultinject.Downstream, tx, 1)
		}, func(e *relEnv) error {
			e.p.RemoveAllToxics()
			return nil
		}
}

func relFaults() []relFault {
	var fs []relFault
	add := func(f relFault) { fs = append(fs, f) }
	withToxic := func(name string, on, off func(e *relEnv) error) relFault {
		return relFault{name: name, on: on, off: off}
	}
	on, off := bothWays(faultinject.Latency{Delay: 50 * time.Millisecond, Jitter: 40 * time.Millisecond})
	add(withToxic("latency+jitter", on, off))
	on, off = bothWays(faultinject.Bandwidth{BytesPerSecond: 16 << 10})
	add(withToxic("bandwidth 16KB/s", on, off))
	on, off = bothWays(faultinject.Slicer{AverageSize: 3, SizeVariation: 2, Delay: 20 * time.Microsecond})
	add(withToxic("slicer", on, off))
	on, off = toxic("limit", faultinject.Upstream, faultinject.LimitData{Bytes: 2000})
	add(withToxic("limit_data upstream", on, off))
	on, off = toxic("limit", faultinject.Downstream, faultinject.LimitData{Bytes: 1000})
	add(withToxic("limit_data downstream", on, off))
	on, off = toxic("hole", faultinject.Upstream, faultinject.Blackhole{})
	add(relFault{name: "blackhole upstream", on: on, off: off, swallows: true})
	on, off = toxic("hole", faultinject.Downstream, faultinject.Blackhole{})
	add(relFault{name: "blackhole downstream", on: on, off: off, swallows: true})
	on, off = toxic("rst", faultinject.Downstream, faultinject.ResetPeer{Timeout: 100 * time.Millisecond})
	add(withToxic("reset_peer 100ms", on, off))
	// A slow close matters when the server closes: it kills our client's
	// connections every tick, and their end of file arrives 300ms late.
	on, off = toxic("slow", faultinject.Downstream, faultinject.SlowClose{Delay: 300 * time.Millisecond})
	add(relFault{name: "slow_close+client kill", on: on, off: off, tick: func(e *relEnv) error {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		_, err := e.srv.Do(ctx, "CLIENT", "KILL", "TYPE", "normal")
		return err
	}})
	add(relFault{name: "refuse new conns", on: func(e *relEnv) error {
		if err := e.p.RefuseNew(true); err != nil {
			return err
		}
		e.p.CutAll()
		return nil
	}, off: func(e *relEnv) error { return e.p.RefuseNew(false) }})
	add(relFault{name: "cut all conns", on: func(*relEnv) error { return nil },
		tick: func(e *relEnv) error { e.p.CutAll(); return nil }})
	add(relFault{name: "reset all conns", on: func(*relEnv) error { return nil },
		tick: func(e *relEnv) error { e.p.ResetAll(); return nil }})
	add(relFault{name: "cut all (RESP2, AUTH)", resp2auth: true, on: func(*relEnv) error { return nil },
		tick: func(e *relEnv) error { e.p.CutAll(); return nil }})
	add(relFault{name: "proxy pause", on: func(e *relEnv) error { e.p.Pause(); return nil },
		off: func(e *relEnv) error { e.p.Resume(); return nil }})
	add(relFault{name: "server kill+restart", aof: true, on: func(e *relEnv) error { return e.srv.Kill() },
		off: func(e *relEnv) error { return e.srv.Restart(e.ctx) }})
	add(relFault{name: "server restart", aof: true, on: func(e *relEnv) error { return e.srv.Restart(e.ctx) }})
	add(relFault{name: "server pause", on: func(e *relEnv) error { return e.srv.Pause() },
		off: func(e *relEnv) error { return e.srv.Resume() }})
	return fs
}

// runFault runs one fault under both loads, checks everything, and fills
// in the fault's row of the table.
func runFault(t *testing.T, f relFault, seed int64, row *relRow) {
	ctx := testCtx(t)
	opts := redisserver.Options{}
	if f.aof {
		opts.Config = []string{"appendonly yes", "appendfsync always"}
	}
	if f.resp2auth {
		opts.Password = "reliable"
	}
	srv := startServer(t, opts)
	p, err := faultinject.New("127.0.0.1:0", srv.Addr(), faultinject.WithSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	tr := &connTracker{}
	cfg := Config{Endpoints: []string{p.Addr()}, Dialer: tr.dial,
		SocketTimeout: relSocketTimeout, ConnectTimeout: relConnectTimeout, ConnectRetry: 2}
	if f.resp2auth {
		cfg.Protocol, cfg.Password = 2, opts.Password
	}
	m := newMux(t, cfg)
	e := &relEnv{t: t, ctx: ctx, srv: srv, p: p}
	viol := &tally{}
	defer func() { row.violated = viol.n.Load() }()

	// Warm up: connected, the databases checked; then the baseline.
	for db := 0; db < 3; db++ {
		if _, err := m.Database(db).Do(ctx, "SET", "warm", db); err != nil {
			t.Fatal(err)
		}
	}
	goroutines0, heap0 := runtime.NumGoroutine(), heapInuse()

	stalls := startStallWatch()
	counter := &counterLoad{db: m.Database(0), key: "counter", viol: viol, values: map[int64]bool{}, stalls: stalls}
	owner := &ownerLoad{m: m, dbs: 3, seed: uint64(seed), viol: viol, stalls: stalls}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < relCounterWorkers; w++ {
		wg.Go(func() { counter.worker(ctx, stop) })
	}
	for g := 0; g < relOwnerWorkers; g++ {
		wg.Go(func() { owner.worker(ctx, g, stop) })
	}
	stopLoad := func() {
		t.Helper()
		close(stop)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(relOpTimeout + relHangSlack + 10*time.Second):
			t.Log(goroutineDump())
			t.Fatal("the load did not stop: an operation hangs")
		}
		stalls.close()
	}
	progress := func(what string, n int64) {
		t.Helper()
		c0, o0 := counter.acked.Load(), owner.completed.Load()
		if !poll(relRecovery, func() bool { return counter.acked.Load() >= c0+n && owner.completed.Load() >= o0+n }) {
			stopLoad()
			viol.report(t)
			t.Fatalf("no progress %s: %d INCRs, %d owner operations acknowledged", what,
				counter.acked.Load()-c0, owner.completed.Load()-o0)
		}
	}
	progress("before the fault", 200)

	// The fault.
	faultStart := time.Now()
	if err := f.on(e); err != nil {
		stopLoad()
		t.Fatalf("fault on: %v", err)
	}
	if f.tick != nil {
		tick := time.NewTicker(relTick)
		for time.Since(faultStart) < relFaultFor {
			<-tick.C
			if err := f.tick(e); err != nil {
				t.Errorf("fault tick: %v", err)
			}
		}
		tick.Stop()
	} else if !f.instant() {
		poll(relFaultFor, func() bool { return false }) // the fault stays on
	}
	if f.swallows {
		before := time.Now()
		if !poll(relRecovery, func() bool { return tr.openBefore(before) == 0 }) {
			viol.addf("%d connections that lost bytes still open %v after the fault began: is SocketTimeout enforced?",
				tr.openBefore(before), time.Since(faultStart))
		}
	}
	if f.off != nil {
		if err := f.off(e); err != nil {
			stopLoad()
			t.Fatalf("fault off: %v", err)
		}
	}
	offAt := time.Now()

	// Recovery: the same Mux works again.
	recovered := poll(relRecovery, func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := m.Database(0).Do(pctx, "INCR", "probe")
		return err == nil
	})
	row.recovery = time.Since(offAt)
	if !recovered {
		viol.addf("the client did not recover within %v of the fault's end", relRecovery)
	}
	progress("after the fault", 100)
	stopLoad()

	// The counter invariant, against the server itself.
	value, err := Int64(srv.Do(ctx, "GET", "counter"))
	if err != nil {
		t.Fatalf("GET counter from the server: %v", err)
	}
	counter.check(value)
	strayKeys(t, srv, viol)
	row.ops, row.acked, row.maybe, row.not = counter.ops.Load(), counter.acked.Load(), counter.maybe.Load(), counter.not.Load()

	// Leaks: the same Mux, connected again, holds what it held before.
	if !poll(relSettle, func() bool { return runtime.NumGoroutine() <= goroutines0 }) {
		viol.addf("goroutines: %d after the fault, %d before", runtime.NumGoroutine(), goroutines0)
		t.Log(goroutineDump())
	}
	if heap := heapInuse(); heap > heap0+relHeapSlack {
		viol.addf("heap in use: %d MiB after the fault, %d MiB before", heap>>20, heap0>>20)
	}
	t.Logf("%s: INCR ops %d (acknowledged %d, maybe %d, not %d), final value %d; owner ops %d (completed %d, failed %d, of which transactions aborted %d); "+
		"%d connections dialled; recovery %v; seed %d",
		f.name, row.ops, row.acked, row.maybe, row.not, value, owner.ops.Load(), owner.completed.Load(), owner.failed.Load(),
		owner.txAborted.Load(), tr.dialled(), row.recovery, seed)
	viol.report(t)
}

// Found by the reliability suite: a goroutine's pipelined commands must run
// in the order it issued them, also when the server says "not now" (here
// LOADING: they did not run) and the client sends them again. The client
// re-sends such a command only when its Future is read, so:
//
//   - a command issued later, and sent at once, runs before it: SET then GET,
//     read in that order, and the GET does not see the SET;
//   - two SETs of one key, the second read first: the second SET runs first
//     and the first one then overwrites it. Both are acknowledged, and the
//     key holds the value written first: a lost update no error reports.
//
// The same happens in a cluster with ASK, MOVED, TRYAGAIN, CLUSTERDOWN and
// re-routing after a node failure (cluster's
// TestFuturesKeepIssueOrderAcrossASK; the reliability suites met both
// during migrations and master kills).
func TestFuturesKeepIssueOrderAcrossRetries(t *testing.T) {
	loading := resp.ErrorValue("LOADING Redis is loading the dataset in memory")
	// serve answers the commands re-sent, in the order they arrive, like a
	// server that finished loading; it returns that order.
	serve := func(t *testing.T, fc *fakeConn, n int) []string {
		t.Helper()
		var order []string
		value := resp.Null()
		for len(order) < n {
			args := fc.read()
			order = append(order, strings.Join(args, " "))
			switch args[0] {
			case "SET":
				value = resp.Bulk(args[2])
				fc.reply(resp.SimpleString("OK"))
			case "GET":
				fc.reply(value)
			}
		}
		return order
	}
	readAll := func(ctx context.Context, fs ...*Future) <-chan result {
		results := make(chan result, len(fs))
		go func() {
			for _, f := range fs {
				v, err := f.Reply(ctx)
				results <- result{v, err}
			}
		}()
		return results
	}

	t.Run("a later command overtakes", func(t *testing.T) {
		fs, cfg := newFake(t)
		m, _ := New(cfg)
		defer m.Close()
		ctx := testCtx(t)
		db := m.Database(0)
		issued := issue(ctx, db, []any{"SET", "k", "v"})
		fc := fs.accept()
		fc.expect("SET", "k", "v")
		set := receive(t, issued)[0]
		fc.reply(loading)
		waitFor(t, "the LOADING reply to be read", func() bool { return m.single.cc.Load().outstanding.Load() == 0 })
		get := db.Command(ctx, "GET", "k") // issued after the SET, read after it
		results := readAll(ctx, set, get)
		order := serve(t, fc, 2)
		for i := 0; i < 2; i++ {
			if r := wait(t, results); r.err != nil {
				t.Fatalf("%s: %v", order[i], r.err)
			}
		}
		if order[0] != "SET k v" {
			t.Fatalf("SET k v, then GET k (both pipelined, read in that order): the server ran %q; the GET did not see the SET", order)
		}
	})

	t.Run("read in reverse order", func(t *testing.T) {
		fs, cfg := newFake(t)
		m, _ := New(cfg)
		defer m.Close()
		ctx := testCtx(t)
		issued := issue(ctx, m.Database(0), []any{"SET", "k", "first"}, []any{"SET", "k", "second"})
		fc := fs.accept()
		fc.expect("SET", "k", "first")
		fc.expect("SET", "k", "second")
		futures := receive(t, issued)
		fc.reply(loading, loading)
		results := readAll(ctx, futures[1], futures[0]) // the second first
		order := serve(t, fc, 2)
		for i := 0; i < 2; i++ {
			if r := wait(t, results); r.err != nil {
				t.Fatalf("a SET failed: %v", r.err)
			}
		}
		if order[0] != "SET k first" {
			t.Fatalf("SET k first, then SET k second, both acknowledged: the server ran %q, and k holds the value written first", order)
		}
	})
}
