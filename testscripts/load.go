package testscripts

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
	"github.com/rogpeppe/go-internal/testscript"
)

// The load generator's defaults.
const (
	DefaultLoadWorkers = 4
	DefaultLoadRate    = 1000 // writes per second, all workers together
	loadCheckBatch     = 500  // GETs pipelined at once by rload-check
	maxSamples         = 5    // error messages kept per class
)

// Bounds of the numeric flags of the background commands. A larger value
// fails the script with the command's usage.
const (
	// MaxWorkers bounds -workers of rload and rwatch-incr.
	MaxWorkers = 1000
	// MaxLoadRate bounds rload's -rate, in writes per second: with at least
	// one writer, each writer's interval is at least a microsecond.
	MaxLoadRate = 1_000_000
)

// load is a load generator (rload): workers that SET unique keys until
// stopped, recording which writes were acknowledged and how the others
// failed.
type load struct {
	db      client.Database
	timeout time.Duration // of each write
	cancel  context.CancelFunc
	done    chan struct{} // closed when every worker has ended
	changed chan struct{} // a non-blocking signal after each acknowledgement; buffered
	mark    atomic.Int64  // generation of the last rload-mark; 0 before any
	stopped bool          // rload-stop was run (script goroutine only)

	mu      sync.Mutex // guards what follows
	acked   []write
	counts  map[string]int      // by error class
	samples map[string][]string // first messages of each class
}

// write is one acknowledged SET.
type write struct {
	key, value string
	gen        int64 // the mark generation when it was issued
}

// cmdRload: rload NAME [CLIENT-FLAGS] [-workers W] [-n N] [-rate R]
// [-prefix P] starts W goroutines (default 4, at most MaxWorkers) that SET
// unique keys "P:WORKER:I" (P defaults to NAME) to I, R writes per second
// in all (default 1000, at most MaxLoadRate; 0: as fast as they can),
// until N writes have been issued (0, the default: until rload-stop).
// -timeout bounds each write.
func cmdRload(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rload"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	var (
		f                clientFlags
		workers, n, rate int
		prefix           string
	)
	fs := newFlagSet(cmd)
	f.register(fs)
	fs.IntVar(&workers, "workers", DefaultLoadWorkers, "concurrent writers")
	fs.IntVar(&n, "n", 0, "writes to issue in all (0: until rload-stop)")
	fs.IntVar(&rate, "rate", DefaultLoadRate, "writes per second in all (0: unlimited)")
	fs.StringVar(&prefix, "prefix", name, "key prefix")
	if rest := parseFlags(ts, cmd, fs, args); len(rest) != 0 {
		usage(ts, cmd)
	}
	checkWorkers(ts, cmd, workers)
	if n < 0 {
		usagef(ts, cmd, "-n %d: want 0 (until rload-stop) or more writes", n)
	}
	if rate < 0 || rate > MaxLoadRate {
		usagef(ts, cmd, "-rate %d: want 0 (unlimited) to %d writes per second", rate, MaxLoadRate)
	}
	if st.loads[name] != nil {
		ts.Fatalf("%s: there is already a load called %s", cmd, name)
	}
	l := &load{
		db:      f.database(st.mux(ts, cmd, &f)),
		timeout: f.timeout,
		done:    make(chan struct{}),
		changed: make(chan struct{}, 1),
		counts:  map[string]int{},
		samples: map[string][]string{},
	}
	var ctx context.Context
	ctx, l.cancel = context.WithCancel(st.ctx)
	st.loads[name] = l
	var (
		issued atomic.Int64
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		st.goBackground(func() {
			defer wg.Done()
			l.worker(ctx, w, workers, rate, n, &issued, prefix)
		})
	}
	st.goBackground(func() {
		wg.Wait()
		close(l.done)
	})
}

// checkWorkers fails the script with the usage of cmd unless -workers is
// 1 to MaxWorkers.
func checkWorkers(ts *testscript.TestScript, cmd string, workers int) {
	if workers < 1 || workers > MaxWorkers {
		usagef(ts, cmd, "-workers %d: want 1 to %d", workers, MaxWorkers)
	}
}

// writeInterval is the time between two writes of one of workers writers
// that make rate writes per second in all; 0 for rate 0 (unlimited). With
// workers and rate in their bounds (MaxWorkers, MaxLoadRate), it is at
// least a microsecond and the product cannot overflow; it is never below a
// nanosecond, so that time.NewTicker cannot panic whatever the bounds.
func writeInterval(workers, rate int) time.Duration {
	if rate <= 0 {
		return 0
	}
	return max(time.Duration(workers)*time.Second/time.Duration(rate), time.Nanosecond)
}

// worker is one writer of a load.
func (l *load) worker(ctx context.Context, w, workers, rate, n int, issued *atomic.Int64, prefix string) {
	var tick <-chan time.Time
	if d := writeInterval(workers, rate); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for i := 0; ; i++ {
		if n > 0 && issued.Add(1) > int64(n) {
			return
		}
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		wr := write{key: prefix + ":" + strconv.Itoa(w) + ":" + strconv.Itoa(i), value: strconv.Itoa(i), gen: l.mark.Load()}
		cctx, cancel := context.WithTimeout(ctx, l.timeout)
		_, err := l.db.Do(cctx, "SET", wr.key, wr.value)
		cancel()
		if err != nil && ctx.Err() != nil {
			return // stopped: not a failure of the client
		}
		l.mu.Lock()
		if err == nil {
			l.acked = append(l.acked, wr)
		} else {
			class := ErrorClass(err)
			l.counts[class]++
			if len(l.samples[class]) < maxSamples {
				l.samples[class] = append(l.samples[class], wr.key+": "+RenderError(err))
			}
		}
		l.mu.Unlock()
		if err == nil {
			select {
			case l.changed <- struct{}{}:
			default:
			}
		}
	}
}

// ackedSince counts the acknowledged writes issued at generation gen or
// later.
func (l *load) ackedSince(gen int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.acked {
		if w.gen >= gen {
			n++
		}
	}
	return n
}

// theLoad returns the load called name.
func (st *state) theLoad(ts *testscript.TestScript, cmd, name string) *load {
	checkName(ts, cmd, name)
	l := st.loads[name]
	if l == nil {
		ts.Fatalf("%s: no load called %s (start it with rload)", cmd, name)
	}
	return l
}

// cmdRloadWait: rload-wait NAME [-timeout D] N waits until N writes issued
// since the last rload-mark (or since the start) have been acknowledged. It
// fails when D passes first, or the load ended.
func cmdRloadWait(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rload-wait"
	name, args := nameArg(ts, cmd, args)
	var d time.Duration
	fs := newFlagSet(cmd)
	fs.DurationVar(&d, "timeout", DefaultTimeout, "how long to wait")
	args = parseFlags(ts, cmd, fs, args)
	if len(args) != 1 {
		usage(ts, cmd)
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 {
		usagef(ts, cmd, "N: want a number, not %q", args[0])
	}
	l := st.theLoad(ts, cmd, name)
	gen := l.mark.Load()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		got := l.ackedSince(gen)
		if got >= want {
			outcome(ts, neg, false, fmt.Sprintf("%s %s: %d writes acknowledged", cmd, name, got))
			return
		}
		select {
		case <-l.changed:
		case <-l.done:
			if got = l.ackedSince(gen); got < want {
				outcome(ts, neg, true, fmt.Sprintf("%s %s: the load ended with %d of %d writes acknowledged%s", cmd, name, got, want, l.summaryLine()))
				return
			}
		case <-timer.C:
			outcome(ts, neg, true, fmt.Sprintf("%s %s: %d of %d writes acknowledged after %s%s", cmd, name, got, want, d, l.summaryLine()))
			return
		}
	}
}

// cmdRloadMark: rload-mark NAME marks the writes issued from now on: they
// are the ones rload-wait counts and rload-check -since-mark checks.
func cmdRloadMark(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rload-mark"
	noNeg(ts, neg, cmd)
	if len(args) != 1 {
		usage(ts, cmd)
	}
	l := st.theLoad(ts, cmd, args[0])
	l.mark.Add(1)
}

// cmdRloadStop: rload-stop NAME stops the load, waits for its writers and
// prints how its writes ended, one class per line:
//
//	acknowledged N
//	not-executed N
//	maybe-executed N
//	error N
//	failed N
//
// (the classes of RenderError, for the writes that failed). It fails when
// any write failed with an error of class "failed": one that does not say
// whether the server ran it. The messages of the first failures of each
// class go to stderr.
func cmdRloadStop(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rload-stop"
	if len(args) != 1 {
		usage(ts, cmd)
	}
	l := st.theLoad(ts, cmd, args[0])
	l.cancel()
	timer := time.NewTimer(DefaultTimeout + l.timeout)
	defer timer.Stop()
	select {
	case <-l.done:
	case <-timer.C:
		ts.Fatalf("%s %s: the writers did not stop", cmd, args[0])
	}
	l.stopped = true
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(ts.Stdout(), "acknowledged %d\n", len(l.acked))
	for _, class := range []string{ClassNotExecuted, ClassMaybeExecuted, ClassError, ClassFailed} {
		fmt.Fprintf(ts.Stdout(), "%s %d\n", class, l.counts[class])
		for _, s := range l.samples[class] {
			writeErr(ts, s)
		}
	}
	msg := fmt.Sprintf("%s %s: %d writes failed without saying whether they ran", cmd, args[0], l.counts[ClassFailed])
	if s := l.samples[ClassFailed]; len(s) > 0 {
		msg += ": " + s[0]
	}
	outcome(ts, neg, l.counts[ClassFailed] > 0, msg)
}

// summaryLine is the counts of a load, for failure messages.
func (l *load) summaryLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, " (acknowledged %d", len(l.acked))
	for _, class := range []string{ClassNotExecuted, ClassMaybeExecuted, ClassError, ClassFailed} {
		if n := l.counts[class]; n > 0 {
			fmt.Fprintf(&b, ", %s %d", class, n)
		}
	}
	for _, class := range []string{ClassNotExecuted, ClassMaybeExecuted, ClassError, ClassFailed} {
		if s := l.samples[class]; len(s) > 0 {
			fmt.Fprintf(&b, "; first %s: %s", class, s[0])
		}
	}
	return b.String() + ")"
}

// cmdRloadCheck: rload-check NAME [-since-mark] reads back (GET, through
// the load's client) every acknowledged write of the stopped load, or those
// issued after the last rload-mark, and fails unless each key holds the
// value written. It prints "checked N acknowledged writes: all readable".
func cmdRloadCheck(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rload-check"
	name, args := nameArg(ts, cmd, args)
	var sinceMark bool
	fs := newFlagSet(cmd)
	fs.BoolVar(&sinceMark, "since-mark", false, "check only the writes issued after the last rload-mark")
	if rest := parseFlags(ts, cmd, fs, args); len(rest) != 0 {
		usage(ts, cmd)
	}
	l := st.theLoad(ts, cmd, name)
	if !l.stopped {
		ts.Fatalf("%s: stop the load first (rload-stop %s)", cmd, name)
	}
	gen := int64(0)
	if sinceMark {
		if gen = l.mark.Load(); gen == 0 {
			ts.Fatalf("%s: -since-mark: %s has no mark (rload-mark %s)", cmd, name, name)
		}
	}
	var writes []write
	for _, w := range l.acked {
		if w.gen >= gen {
			writes = append(writes, w)
		}
	}
	var bad []string
	for start := 0; start < len(writes); start += loadCheckBatch {
		batch := writes[start:min(start+loadCheckBatch, len(writes))]
		ctx, cancel := st.opContext(DefaultTimeout)
		futures := make([]*client.Future, len(batch))
		for i, w := range batch {
			futures[i] = l.db.Command(ctx, "GET", w.key)
		}
		for i, fut := range futures {
			v, err := fut.Reply(ctx)
			if err != nil || v.Type == resp.TypeNull || v.Str != batch[i].value {
				bad = append(bad, fmt.Sprintf("%s: wrote %q, read %s", batch[i].key, batch[i].value, resultText(v, err)))
			}
		}
		cancel()
	}
	if len(bad) > 0 {
		for i, s := range bad {
			if i == maxSamples {
				writeErr(ts, fmt.Sprintf("... and %d more", len(bad)-maxSamples))
				break
			}
			writeErr(ts, s)
		}
		outcome(ts, neg, true, fmt.Sprintf("%s %s: %d of %d acknowledged writes not readable: %s", cmd, name, len(bad), len(writes), bad[0]))
		return
	}
	writeOut(ts, fmt.Sprintf("checked %d acknowledged writes: all readable", len(writes)))
	outcome(ts, neg, false, fmt.Sprintf("%s %s: %d writes checked", cmd, name, len(writes)))
}
