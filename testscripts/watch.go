package testscripts

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/rogpeppe/go-internal/testscript"
)

// watchOp is an optimistic transaction in progress (rwatch): its
// goroutine runs Database.Watch, reads the keys, sends what it read on
// read, then waits for the commands of rwatch-exec on exec. It writes
// futures and err, then closes done.
type watchOp struct {
	keys    []string
	trunc   int
	read    chan []string   // the rendered GETs of the keys; buffered
	exec    chan [][]string // the commands to queue; buffered
	done    chan struct{}
	futures []*client.Future
	err     error
}

// cmdRwatch: rwatch NAME [CLIENT-FLAGS] KEY... starts an optimistic
// transaction (Database.Watch, on a connection of its own): it WATCHes the
// keys, GETs them, prints what it read as a numbered list, and waits for
// rwatch-exec NAME to give the commands to run as MULTI/EXEC. Whatever
// changes the keys in between (an rcmd) makes the transaction fail.
// -timeout bounds the whole transaction.
func cmdRwatch(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rwatch"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	var f clientFlags
	fs := newFlagSet(cmd)
	f.register(fs)
	keys := parseFlags(ts, cmd, fs, args)
	if len(keys) == 0 {
		usage(ts, cmd)
	}
	if st.watches[name] != nil {
		ts.Fatalf("%s: %s is already in progress (rwatch-exec %s first)", cmd, name, name)
	}
	db := f.database(st.mux(ts, cmd, &f))
	op := &watchOp{
		keys:  keys,
		trunc: f.trunc,
		read:  make(chan []string, 1),
		exec:  make(chan [][]string, 1),
		done:  make(chan struct{}),
	}
	ctx, cancel := st.callContext(&f)
	st.goBackground(func() {
		defer cancel()
		defer close(op.done)
		op.err = db.Watch(ctx, keys, func(tx *client.Tx) error {
			vals := make([]string, len(keys))
			for i, k := range keys {
				v, err := tx.Do(ctx, "GET", k)
				vals[i] = renderResult(v, err, op.trunc)
			}
			op.read <- vals
			select {
			case cmds := <-op.exec:
				for _, c := range cmds {
					op.futures = append(op.futures, tx.Command(toAny(c)...))
				}
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	st.watches[name] = op
	select {
	case vals := <-op.read:
		writeOut(ts, renderList(vals))
	case <-op.done:
		delete(st.watches, name)
		ts.Fatalf("%s %s: %s", cmd, name, RenderError(op.err))
	}
}

// cmdRwatchExec: rwatch-exec NAME [-timeout D] CMD [ARG...] [; CMD
// [ARG...]]... queues the commands in the transaction rwatch NAME started
// and sends it: it prints the replies as rmulti does, or fails when the
// transaction did not run: "(not-executed) client: transaction failed: a
// watched key changed" when a watched key changed.
func cmdRwatchExec(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rwatch-exec"
	name, args := nameArg(ts, cmd, args)
	var d time.Duration
	fs := newFlagSet(cmd)
	fs.DurationVar(&d, "timeout", DefaultTimeout, "how long to wait for EXEC")
	args = parseFlags(ts, cmd, fs, args)
	if len(args) == 0 {
		usage(ts, cmd)
	}
	cmds := splitCommands(ts, cmd, args)
	op := st.watches[name]
	if op == nil {
		ts.Fatalf("%s: no transaction called %s (start it with rwatch)", cmd, name)
	}
	delete(st.watches, name)
	op.exec <- cmds
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-op.done:
	case <-timer.C:
		ts.Fatalf("%s %s: no answer after %s", cmd, name, d)
	}
	if op.err != nil {
		writeErr(ts, RenderError(op.err))
		outcome(ts, neg, true, cmd+" "+name+": "+RenderError(op.err))
		return
	}
	writeOut(ts, renderList(collect(st.ctx, op.futures, op.trunc)))
	outcome(ts, neg, false, cmd+" "+name+" "+strings.Join(args, " "))
}

// cmdRwatchIncr: rwatch-incr [CLIENT-FLAGS] [-workers W] [-n N] KEY
// increments KEY N times from each of W goroutines (default 8 × 25; W at
// most MaxWorkers), each increment an optimistic transaction (WATCH KEY,
// GET KEY, MULTI, SET KEY value+1, EXEC) retried while a watched key
// changed. It prints the final value of KEY (GET) and, on stderr, how many
// transactions conflicted. -timeout bounds it all.
func cmdRwatchIncr(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rwatch-incr"
	var (
		f          clientFlags
		workers, n int
	)
	fs := newFlagSet(cmd)
	f.register(fs)
	fs.IntVar(&workers, "workers", 8, "concurrent goroutines")
	fs.IntVar(&n, "n", 25, "increments per goroutine")
	args = parseFlags(ts, cmd, fs, args)
	if len(args) != 1 {
		usage(ts, cmd)
	}
	checkWorkers(ts, cmd, workers)
	if n < 1 {
		usagef(ts, cmd, "-n %d: want 1 or more increments per goroutine", n)
	}
	key := args[0]
	db := f.database(st.mux(ts, cmd, &f))
	ctx, cancel := st.callContext(&f)
	defer cancel()
	var (
		conflicts atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		firstErr  error
	)
	incr := func(tx *client.Tx) error {
		v, err := client.Int64(tx.Do(ctx, "GET", key))
		if errors.Is(err, client.ErrNil) {
			v, err = 0, nil
		}
		if err != nil {
			return err
		}
		tx.Command("SET", key, v+1)
		return nil
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; {
				err := db.Watch(ctx, []string{key}, incr)
				switch {
				case err == nil:
					i++
				case errors.Is(err, client.ErrTxFailed):
					conflicts.Add(1)
				default:
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	writeErr(ts, fmt.Sprintf("conflicts: %d", conflicts.Load()))
	if firstErr != nil {
		writeErr(ts, RenderError(firstErr))
		outcome(ts, neg, true, cmd+" "+key+": "+RenderError(firstErr))
		return
	}
	v, err := db.Do(ctx, "GET", key)
	report(ts, neg, cmd, args, v, err, 0)
}
