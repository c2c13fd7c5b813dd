package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
	"github.com/justredis/justredis/resp"
)

// The reliability suite on a cluster (issue #7; the standalone suite is
// client/reliability_test.go). The faults are the harness's operations —
// slot migration, manual failover, master pause (failed over) and resume,
// master kill, restart of the killed node —
// run one after the other on one cluster, each under load through a new
// cluster client:
//
//   - the counter invariant: clRelCounterWorkers goroutines INCR one key in
//     the affected slots; every result is acknowledged, maybe executed or
//     not executed (NotExecuted, or a reply saying it did not run: TRYAGAIN,
//     CLUSTERDOWN, MOVED/ASK after the redirect budget, LOADING), anything
//     else is a violation. Afterwards, read from the slot's master itself:
//     acknowledged <= value <= acknowledged + maybe, and no two acknowledged
//     INCRs replied the same number.
//   - the ownership invariant: clRelOwnerWorkers goroutines write keys of
//     their own in the affected slots (SET, MULTI SET GET EXEC, pipelined
//     futures, a script) and read them (GET); every reply must be one the
//     goroutine could have caused; no operation outlives its ctx by more
//     than clRelHangSlack.
//   - recovery: the time from the operation's end (the cluster stable
//     again) until a command on the affected slots succeeds through the
//     same client; then the loads must progress again.
//   - leaks: after the client is closed, none of its goroutines remain and
//     the heap is back near its size before the client.
//
// A killed master loses what it acknowledged and had not yet replicated:
// Redis replicates asynchronously, and no client can prevent it. As in
// TestWritesSurviveChaos, a WAIT barrier before the kill makes every write
// acknowledged before it safe; writes acknowledged between the barrier and
// the end of the failover (the risk window) may be lost. So under a kill the
// counter's lower bound is acknowledged minus those acknowledged in the
// window (the upper bound stays exact: loss only lowers the value), two
// acknowledged INCRs may reply the same number only if one of them was
// acknowledged in the window, and a GET may find an older value of the
// goroutine's own only if the newer one was established in the window.
// Everything else is exact, and the table says how much the window cost.
func TestClusterReliability(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster reliability suite takes about half a minute")
	}
	c := startCluster(t)
	ctx := testCtx(t)

	// The affected slots: 16 slots of the first master. Every key of the
	// suite lives in them.
	from, to := c.Masters()[0], c.Masters()[1]
	var slots []int
	for s := from.Slots()[0].Start; len(slots) < 16; s++ {
		slots = append(slots, s)
	}
	owner := func() *clusterharness.Node { return c.SlotOwner(slots[0]) }
	var killed *clusterharness.Node

	faults := []clRelFault{
		{name: "slot migration", op: func(e *clRelEnv) error {
			_, err := c.MigrateSlots(ctx, from, to, slots)
			return err
		}},
		{name: "manual failover", op: func(e *clRelEnv) error {
			return c.Failover(ctx, c.ReplicasOf(owner())[0], clusterharness.FailoverDefault)
		}},
		{name: "master pause+resume", lossy: true, op: func(e *clRelEnv) error {
			paused := owner()
			e.barrier()
			if err := c.Pause(ctx, paused); err != nil { // returns once its replica took over
				return err
			}
			return c.Resume(ctx, paused) // it rejoins as a replica
		}},
		{name: "master kill", lossy: true, op: func(e *clRelEnv) error {
			killed = owner()
			e.barrier()
			return c.Kill(ctx, killed)
		}},
		{name: "killed master restart", op: func(e *clRelEnv) error {
			return c.Restart(ctx, killed)
		}},
	}
	var rows []*clRelRow
	for i, f := range faults {
		row := &clRelRow{fault: f.name}
		rows = append(rows, row)
		if !t.Run(f.name, func(t *testing.T) { runClusterFault(t, c, f, slots, i, row) }) {
			break // the cluster's state is unknown: the next faults would not mean much
		}
	}
	t.Log("cluster reliability table (counter invariant: INCRs on one key; violations include the ownership invariant, hangs and leaks):" +
		clRelTable(rows))
}

// Shape of each fault's run.
const (
	clRelCounterWorkers = 16
	clRelOwnerWorkers   = 16
	clRelOpTimeout      = 3 * time.Second
	clRelHangSlack      = 3 * time.Second
	clRelRecovery       = 30 * time.Second
	clRelSettle         = 15 * time.Second
	clRelHeapSlack      = 64 << 20
)

// clRelFault is one harness operation run under load.
type clRelFault struct {
	name  string
	op    func(e *clRelEnv) error // returns once the cluster is stable again
	lossy bool                    // acknowledged writes may be lost (see the risk window)
}

// clRelEnv is what an operation may use.
type clRelEnv struct {
	t   *testing.T // the fault's subtest
	ctx context.Context
	m   *client.Mux
	// riskFrom is set by barrier: writes acknowledged from then until the
	// operation's end may be lost.
	riskFrom atomic.Int64 // UnixNano; 0: no risk
}

// barrier waits until every master's replica has every write made so far
// on the client's connections (see chaos_test.go) and opens the risk
// window.
func (e *clRelEnv) barrier() {
	t := e.t
	t.Helper()
	e.riskFrom.Store(time.Now().UnixNano())
	results, err := DoOnMasters(e.ctx, e.m, "WAIT", 1, 5000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if n, err := client.Int64(r.Value, r.Err); err != nil || n < 1 {
			t.Fatalf("WAIT on %s: %d, %v", r.Addr, n, err)
		}
	}
}

// clRelRow is one row of the table.
type clRelRow struct {
	fault                            string
	ops, acked, maybe, not, violated int64
	lost, atRisk                     int64 // under a kill: acknowledged INCRs lost, and acknowledged in the risk window
	recovery                         time.Duration
}

func clRelTable(rows []*clRelRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n| %-22s | %7s | %7s | %7s | %7s | %10s | %9s | %s |\n", "fault", "ops", "acked", "maybe", "not", "violations", "recovery", "lost (at risk)")
	fmt.Fprintf(&b, "|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|\n", strings.Repeat("-", 24), strings.Repeat("-", 8), strings.Repeat("-", 8),
		strings.Repeat("-", 8), strings.Repeat("-", 8), strings.Repeat("-", 11), strings.Repeat("-", 10), strings.Repeat("-", 15))
	for _, r := range rows {
		rec := r.recovery.Round(time.Millisecond).String()
		fmt.Fprintf(&b, "| %-22s | %7d | %7d | %7d | %7d | %10d | %9s | %14s |\n", r.fault, r.ops, r.acked, r.maybe, r.not, r.violated, rec,
			fmt.Sprintf("%d (%d)", r.lost, r.atRisk))
	}
	return b.String()
}

// clTally counts violations and keeps the first few messages.
type clTally struct {
	n    atomic.Int64
	mu   sync.Mutex
	msgs []string
}

func (v *clTally) addf(format string, args ...any) {
	if v.n.Add(1) > 10 {
		return
	}
	v.mu.Lock()
	v.msgs = append(v.msgs, fmt.Sprintf(format, args...))
	v.mu.Unlock()
}

func (v *clTally) report(t *testing.T) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, m := range v.msgs {
		t.Error(m)
	}
	if n := v.n.Load(); n > int64(len(v.msgs)) {
		t.Errorf("... and %d more violations", n-int64(len(v.msgs)))
	}
}

// didNotRun reports whether err is a reply saying the command did not run
// (returned once the retry or redirect budget is spent).
func didNotRun(err error) bool {
	switch resp.ErrorPrefix(err) {
	case "TRYAGAIN", "CLUSTERDOWN", "MOVED", "ASK", "LOADING":
		return true
	}
	return false
}

// late reports how long after ctx's deadline (plus slack) an operation that
// ran with ctx returned.
func late(deadline time.Time) (time.Duration, bool) {
	d := time.Since(deadline)
	return d, d > clRelHangSlack
}

// clCounter is the counter invariant's load.
type clCounter struct {
	db   client.Database
	key  string
	viol *clTally

	ops, acked, maybe, not atomic.Int64

	mu   sync.Mutex
	acks map[int64][]time.Time // reply of each acknowledged INCR -> when
}

func (l *clCounter) worker(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		opCtx, cancel := context.WithTimeout(ctx, clRelOpTimeout)
		deadline, _ := opCtx.Deadline()
		n, err := client.Int64(l.db.Do(opCtx, "INCR", l.key))
		cancel()
		l.ops.Add(1)
		if d, hung := late(deadline); hung {
			l.viol.addf("INCR returned %v after its ctx ended: %v", d, err)
		}
		switch {
		case err == nil:
			l.acked.Add(1)
			l.mu.Lock()
			l.acks[n] = append(l.acks[n], time.Now())
			l.mu.Unlock()
		case client.MaybeExecuted(err):
			l.maybe.Add(1)
		case client.NotExecuted(err) || didNotRun(err):
			l.not.Add(1)
		default:
			l.viol.addf("INCR: an error that is neither NotExecuted nor MaybeExecuted: %v", err)
		}
	}
}

// check verifies the counter invariant against the final value; acks in
// [riskFrom, riskTo] may have been lost (zero times: none). It returns how
// many acknowledged INCRs were lost and how many were at risk.
func (l *clCounter) check(value int64, riskFrom, riskTo time.Time) (lost, atRisk int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	inWindow := func(at time.Time) bool { return !riskFrom.IsZero() && !at.Before(riskFrom) && !at.After(riskTo) }
	var maxReply int64
	for n, ats := range l.acks {
		maxReply = max(maxReply, n)
		safe := 0
		for _, at := range ats {
			if inWindow(at) {
				atRisk++
			} else {
				safe++
			}
		}
		if len(ats) > 1 && safe > 1 {
			l.viol.addf("%d acknowledged INCRs replied %d, outside the risk window: a reply reached the wrong caller", safe, n)
		}
	}
	acked, maybe := l.acked.Load(), l.maybe.Load()
	if value < acked-atRisk || value > acked+maybe {
		l.viol.addf("counter %d outside [acknowledged %d - at risk %d, acknowledged + maybe %d]", value, acked, atRisk, acked+maybe)
	}
	if maxReply > value && riskFrom.IsZero() {
		l.viol.addf("an acknowledged INCR replied %d, more than the final value %d", maxReply, value)
	}
	return max(acked-value, 0), atRisk
}

// clOwner is the ownership invariant's load.
type clOwner struct {
	db    client.Database
	keys  []string // goroutine g uses keys[g]
	viol  *clTally
	env   *clRelEnv
	lossy bool

	ops, completed, failed, rolledBack, txAborted atomic.Int64

	mu        sync.Mutex
	rollbacks []rollback
}

// rollback is a GET that found an older value of the goroutine's own.
type rollback struct {
	lostAt  time.Time // when the value it lost had been established
	g       int
	history string // the goroutine's last operations
}

// futuresMayReorder: see client/reliability_helpers_test.go. A pipelined
// GET may run before the SET issued just before it when the SET has to be
// sent again (TestFuturesKeepIssueOrderAcrossASK): until that client bug is
// fixed, the GET may find the value from before the SET.
const futuresMayReorder = false

// ownerScript writes its argument and reads it back, atomically.
var ownerScript = client.NewScript("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])")

// worker is goroutine g; see client/reliability_helpers_test.go for the
// model: it writes its key with SET, MULTI SET GET EXEC, pipelined futures
// and a script, and reads it with GET; cur is the value written for
// certain or read last, maybe every write whose outcome is unknown (it may
// land later). Under a kill, a GET may also find a value that was once cur
// (or "none"), if the newer cur was established in the risk window
// (checked at the end).
func (l *clOwner) worker(ctx context.Context, g int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(g), 17))
	key := l.keys[g]
	cur, curAt := "", time.Now()
	maybe := map[string]bool{}
	past := map[string]bool{"": true} // every value that was cur
	setCur := func(v string) { cur, curAt, past[v] = v, time.Now(), true }
	var hist []string // the last operations, for the messages
	note := func(format string, args ...any) {
		hist = append(hist, time.Now().Format("15:04:05.000000 ")+fmt.Sprintf(format, args...))
		if len(hist) > 12 {
			hist = hist[1:]
		}
	}
	history := func() string { return "\n\t" + strings.Join(hist, "\n\t") }
	wrote := func(op, val string, err error) bool {
		note("%s %q: %v", op, val, err)
		switch {
		case err == nil:
			setCur(val)
			l.completed.Add(1)
			return true
		case client.MaybeExecuted(err):
			maybe[val] = true
			l.failed.Add(1)
		case client.NotExecuted(err) || didNotRun(err):
			l.failed.Add(1)
		default:
			l.viol.addf("goroutine %d: %s: an error that is neither NotExecuted nor MaybeExecuted: %v", g, op, err)
		}
		return false
	}
	read := func(op string, v resp.Value, err error, also ...string) {
		note("%s: %v, %v", op, v, err)
		switch {
		case err == nil:
			got := ""
			if v.Type == resp.TypeBulkString {
				got = v.Str
			} else if !v.IsNull() {
				l.viol.addf("goroutine %d: %s got %v", g, op, v)
			}
			switch {
			case got == cur || maybe[got] || slices.Contains(also, got):
			case l.lossy && past[got]:
				l.rolledBack.Add(1)
				l.mu.Lock()
				l.rollbacks = append(l.rollbacks, rollback{lostAt: curAt, g: g, history: history()})
				l.mu.Unlock()
			default:
				l.viol.addf("goroutine %d: %s %s = %q, which it never wrote (last %q); its last operations:%s", g, op, key, got, cur, history())
			}
			if got != cur {
				setCur(got)
			}
			l.completed.Add(1)
		case client.MaybeExecuted(err) || client.NotExecuted(err) || didNotRun(err):
			l.failed.Add(1)
		default:
			l.viol.addf("goroutine %d: %s: an error that is neither NotExecuted nor MaybeExecuted: %v", g, op, err)
		}
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		timeout := clRelOpTimeout
		if rng.IntN(4) == 0 {
			timeout = time.Duration(rng.IntN(3000)) * time.Microsecond
		}
		opCtx, cancel := context.WithTimeout(ctx, timeout)
		deadline, _ := opCtx.Deadline()
		l.ops.Add(1)
		val := fmt.Sprintf("%d:%d", g, i)
		switch op := rng.IntN(10); {
		case op < 4:
			v, err := l.db.Do(opCtx, "SET", key, val)
			if wrote("SET", val, err) && (v.Type != resp.TypeSimpleString || v.Str != "OK") {
				l.viol.addf("goroutine %d: SET got %v", g, v)
			}
		case op < 7:
			v, err := l.db.Do(opCtx, "GET", key)
			read("GET", v, err)
		case op == 7:
			tx := l.db.Multi()
			set := tx.Command("SET", key, val)
			get := tx.Command("GET", key)
			err := tx.Exec(opCtx)
			if errors.Is(err, client.ErrTxAborted) {
				// EXECABORT: the server refused a queued command, so the
				// transaction did not run. Under a slot migration that is
				// ASK (the transaction waits for the migration's end, but
				// only for a bounded number of tries).
				l.txAborted.Add(1)
				l.failed.Add(1)
				break
			}
			if wrote("MULTI", val, err) {
				sv, serr := set.Reply(opCtx)
				gv, gerr := get.Reply(opCtx)
				if serr != nil || sv.Str != "OK" || gerr != nil || gv.Str != val {
					l.viol.addf("goroutine %d: MULTI SET GET EXEC of %q replied %v, %v; %v, %v", g, val, sv, serr, gv, gerr)
				}
			}
		case op == 8:
			set := l.db.Command(opCtx, "SET", key, val)
			get := l.db.Command(opCtx, "GET", key)
			sv, serr := set.Reply(opCtx)
			gv, gerr := get.Reply(opCtx)
			if futuresMayReorder {
				// The GET may have run before the SET (see
				// futuresMayReorder): it may find the value before it.
				also := ""
				if serr == nil || client.MaybeExecuted(serr) {
					also = val
				}
				read("future GET", gv, gerr, also)
			}
			if wrote("future SET", val, serr) && sv.Str != "OK" {
				l.viol.addf("goroutine %d: future SET got %v", g, sv)
			}
			if !futuresMayReorder {
				read("future GET", gv, gerr)
			}
		default:
			v, err := ownerScript.Run(opCtx, l.db, []string{key}, val)
			if wrote("script", val, err) && v.Str != val {
				l.viol.addf("goroutine %d: the script writing %q returned %v", g, val, v)
			}
		}
		cancel()
		if d, hung := late(deadline); hung {
			l.viol.addf("goroutine %d: an operation returned %v after its ctx ended", g, d)
		}
	}
}

// checkRollbacks verifies that every value a GET found rolled back had
// been established in the risk window.
func (l *clOwner) checkRollbacks(riskFrom, riskTo time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rollbacks {
		if riskFrom.IsZero() || r.lostAt.Before(riskFrom) || r.lostAt.After(riskTo) {
			l.viol.addf("goroutine %d: a value established at %v, outside the risk window [%v, %v], was lost; its last operations:%s",
				r.g, r.lostAt.Format("15:04:05.000000"), riskFrom.Format("15:04:05.000000"), riskTo.Format("15:04:05.000000"), r.history)
		}
	}
}

// clientGoroutines counts the goroutines running code of the client or
// cluster packages (tests excluded).
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "_test.go") {
			continue
		}
		if strings.Contains(g, "justredis/client.") || strings.Contains(g, "justredis/cluster.") {
			count++
		}
	}
	return count
}

func clHeapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// clPoll calls cond every few milliseconds until it holds or d has passed.
func clPoll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// runClusterFault runs one operation under both loads, checks everything
// and fills in row.
func runClusterFault(t *testing.T, c *clusterharness.Cluster, f clRelFault, slots []int, idx int, row *clRelRow) {
	ctx := testCtx(t)
	viol := &clTally{}
	defer func() { row.violated = viol.n.Load() }()
	heap0 := clHeapInuse()
	if n := clientGoroutines(); n != 0 {
		t.Fatalf("%d client goroutines before the client: a previous fault leaked", n)
	}

	m, err := New(client.Config{Endpoints: c.Addrs(), ConnectTimeout: time.Second, SocketTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = m.Close()
		if !clPoll(clRelSettle, func() bool { return clientGoroutines() == 0 }) {
			viol.addf("%d client goroutines left after Close", clientGoroutines())
		}
		if heap := clHeapInuse(); heap > heap0+clRelHeapSlack {
			viol.addf("heap in use: %d MiB after the fault, %d MiB before", heap>>20, heap0>>20)
		}
		viol.report(t)
	}()
	e := &clRelEnv{t: t, ctx: ctx, m: m}
	db := m.Database(0)
	tag := func(slot int) string { return "{" + clusterharness.KeyInSlot(slot) + "}" }
	counter := &clCounter{db: db, key: fmt.Sprintf("%s:counter:%d", tag(slots[0]), idx), viol: viol, acks: map[int64][]time.Time{}}
	owner := &clOwner{db: db, viol: viol, env: e, lossy: f.lossy}
	for g := 0; g < clRelOwnerWorkers; g++ {
		owner.keys = append(owner.keys, fmt.Sprintf("%s:own:%d:%d", tag(slots[g%len(slots)]), idx, g))
	}
	// Keys for the migration to move (and be slow with: ASK, TRYAGAIN).
	for _, s := range slots {
		args := []any{"MSET"}
		for k := 0; k < 200; k++ {
			args = append(args, fmt.Sprintf("%s:fill:%d:%d", tag(s), idx, k), k)
		}
		if _, err := db.Do(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	probe := tag(slots[len(slots)-1]) + ":probe"
	if _, err := db.Do(ctx, "SET", probe, 0); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < clRelCounterWorkers; w++ {
		wg.Go(func() { counter.worker(ctx, stop) })
	}
	for g := 0; g < clRelOwnerWorkers; g++ {
		wg.Go(func() { owner.worker(ctx, g, stop) })
	}
	stopped := false
	stopLoad := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		close(stop)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(clRelOpTimeout + clRelHangSlack + 10*time.Second):
			buf := make([]byte, 1<<20)
			t.Log(string(buf[:runtime.Stack(buf, true)]))
			t.Fatal("the load did not stop: an operation hangs")
		}
	}
	defer stopLoad()
	progress := func(what string, n int64) {
		t.Helper()
		c0, o0 := counter.acked.Load(), owner.completed.Load()
		if !clPoll(clRelRecovery, func() bool { return counter.acked.Load() >= c0+n && owner.completed.Load() >= o0+n }) {
			t.Fatalf("no progress %s: %d INCRs, %d owner operations acknowledged", what,
				counter.acked.Load()-c0, owner.completed.Load()-o0)
		}
	}
	progress("before the fault", 200)

	start := time.Now()
	if err := f.op(e); err != nil {
		t.Fatalf("%s: %v", f.name, err)
	}
	opEnd := time.Now()
	var riskFrom, riskTo time.Time
	if ns := e.riskFrom.Load(); ns != 0 {
		riskFrom, riskTo = time.Unix(0, ns), opEnd
	}

	recovered := clPoll(clRelRecovery, func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := db.Do(pctx, "INCR", probe)
		return err == nil
	})
	row.recovery = time.Since(opEnd)
	if !recovered {
		viol.addf("the client did not recover within %v of the cluster being stable", clRelRecovery)
	}
	progress("after the fault", 100)
	stopLoad()

	// The counter, from its master itself.
	master := c.SlotOwner(clusterharness.KeySlot(counter.key))
	value, err := client.Int64(master.Server().Do(ctx, "GET", counter.key))
	if err != nil {
		t.Fatalf("GET %s from %s: %v", counter.key, master, err)
	}
	row.lost, row.atRisk = counter.check(value, riskFrom, riskTo)
	owner.checkRollbacks(riskFrom, riskTo)
	row.ops, row.acked, row.maybe, row.not = counter.ops.Load(), counter.acked.Load(), counter.maybe.Load(), counter.not.Load()
	t.Logf("%s: took %v; INCR ops %d (acknowledged %d, maybe %d, not %d), final value %d, lost %d of %d at risk; "+
		"owner ops %d (completed %d, failed %d, of which transactions aborted %d; rolled back %d); recovery %v",
		f.name, opEnd.Sub(start).Round(time.Millisecond), row.ops, row.acked, row.maybe, row.not, value, row.lost, row.atRisk,
		owner.ops.Load(), owner.completed.Load(), owner.failed.Load(), owner.txAborted.Load(), owner.rolledBack.Load(), row.recovery)
}

// Found by the reliability suite: a goroutine's pipelined commands must run
// in the order it issued them, also when they are redirected. A key has
// moved to the importing node while its slot is still migrating, so both
// SETs below are answered ASK by the slot's owner and must be sent again
// to the importing node. If the client re-sends each one when its Future is
// read, and the caller reads the second first, the second SET runs first
// and the first one overwrites it: both acknowledged, and the key keeps the
// value written first. (The fake-server version, with LOADING, is client's
// TestFuturesKeepIssueOrderAcrossRetries.)
func TestFuturesKeepIssueOrderAcrossASK(t *testing.T) {
	c := startCluster(t)
	m := newClient(t, c)
	ctx := testCtx(t)
	db := m.Database(0)
	slot := c.Masters()[0].Slots()[0].Start
	key := keyInSlot(slot)
	if _, err := db.Do(ctx, "SET", key, "before"); err != nil {
		t.Fatal(err)
	}
	mig := moveMidMigration(ctx, t, c, slot, key)
	first := db.Command(ctx, "SET", key, "first")
	second := db.Command(ctx, "SET", key, "second")
	if _, err := second.Reply(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Reply(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mig.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := client.String(db.Do(ctx, "GET", key)); err != nil || s != "second" {
		t.Fatalf("after SET first, SET second (both acknowledged): %s = %q, %v; want \"second\"", key, s, err)
	}
}
