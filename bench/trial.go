package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// trial is the outcome of one timed run of one client (or of
// redis-benchmark).
type trial struct {
	opsPerSec    float64
	ops          int64
	elapsed      time.Duration
	allocsPerOp  float64 // NaN when not measured (redis-benchmark)
	bytesPerOp   float64 // heap bytes allocated per command; NaN when not measured
	gcPer10k     float64 // garbage collections of this process per 10,000 commands; NaN when not measured
	cmdsPerWrite float64 // NaN when the client cannot say
	clientCPU    float64 // µs of this process's CPU time per command; NaN when not measured
	serverCPU    float64 // µs of the servers' CPU time per command; NaN when not measured
	setRPS       float64 // redis-benchmark only
	getRPS       float64 // redis-benchmark only
}

// stuckTimeout is how long a trial waits, after its end, for its goroutines'
// last commands to return before it declares the client stuck.
const stuckTimeout = 30 * time.Second

// keyName is the key goroutine g sets and gets: one key per goroutine, so
// that on a cluster the goroutines spread over every master.
func keyName(g int) string { return "bench:" + strconv.Itoa(g) }

// value returns a value of size bytes.
func value(size int) string {
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// runTrial runs sessions (one goroutine each) for d: every goroutine
// alternates SET and GET on its own key until the time is up, then finishes
// the command it is in. It returns the completed commands per second over
// the time from the start until the last goroutine stopped, and the heap
// allocations and bytes per command over the same span (runtime.MemStats
// Mallocs and TotalAlloc, so everything the process allocated meanwhile
// counts: the client's goroutines, the runtime; the loop itself allocates
// nothing), and the
// garbage collections per 10,000 commands (each scans every goroutine's
// stack: with thousands of goroutines and a small heap, a cost every
// client pays per collection, and a client whose heap is smaller collects
// more often for the same allocations). The first
// error of any goroutine stops the trial and is returned.
//
// It also measures the CPU time per command of this process (the client
// under test, and the loop) and of the server processes pids: on a machine
// whose cores the client, the servers and the kernel saturate together,
// CPU per command is what bounds throughput.
//
// onStart and onStop, when not nil, run just before the goroutines are
// released and just after they have all stopped (the CPU profile).
func runTrial(ctx context.Context, sessions []session, d time.Duration, b batcher, pids []int, labels pprof.LabelSet, onStart, onStop func()) (trial, error) {
	runtime.GC() // the previous trial's garbage is not this one's to collect

	var (
		stop    atomic.Bool
		errOnce sync.Once
		err     error
		failed  = make(chan struct{})
		start   = make(chan struct{})
		counts  = make([]int64, len(sessions))
		done    sync.WaitGroup
		ready   sync.WaitGroup // every goroutine has run up to <-start
	)
	fail := func(e error) {
		errOnce.Do(func() {
			err = e
			stop.Store(true)
			close(failed)
		})
	}
	for i, s := range sessions {
		done.Add(1)
		ready.Add(1)
		go pprof.Do(context.Background(), labels, func(context.Context) {
			defer done.Done()
			ready.Done() // pprof.Do's allocations are made: outside the window
			<-start
			var n int64
			for !stop.Load() {
				if e := s.set(ctx); e != nil {
					fail(fmt.Errorf("SET %s: %w", keyName(i), e))
					break
				}
				n++
				if e := s.get(ctx); e != nil {
					fail(fmt.Errorf("GET %s: %w", keyName(i), e))
					break
				}
				n++
			}
			counts[i] = n
		})
	}

	ready.Wait()
	var ms0, ms1 runtime.MemStats
	var c0, w0 int64
	if b != nil {
		c0, w0 = b.batchStats()
	}
	if onStart != nil {
		onStart()
	}
	runtime.ReadMemStats(&ms0)
	cpu0, srv0 := processCPU(), serversCPU(pids)
	t0 := time.Now()
	close(start)

	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-failed:
	case <-ctx.Done():
	}
	timer.Stop()
	stop.Store(true)

	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(stuckTimeout):
		return trial{}, fmt.Errorf("bench: goroutines still inside a command %v after the trial's end: the client is stuck", stuckTimeout)
	}
	elapsed := time.Since(t0)
	cpu1, srv1 := processCPU(), serversCPU(pids)
	runtime.ReadMemStats(&ms1)
	if onStop != nil {
		onStop()
	}
	if err != nil {
		return trial{}, err
	}
	if ctx.Err() != nil {
		return trial{}, ctx.Err()
	}

	var ops int64
	for _, n := range counts {
		ops += n
	}
	if ops == 0 {
		return trial{}, errors.New("bench: no command completed in the trial")
	}
	t := trial{
		ops:          ops,
		elapsed:      elapsed,
		opsPerSec:    float64(ops) / elapsed.Seconds(),
		allocsPerOp:  float64(ms1.Mallocs-ms0.Mallocs) / float64(ops),
		bytesPerOp:   float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(ops),
		gcPer10k:     1e4 * float64(ms1.NumGC-ms0.NumGC) / float64(ops),
		cmdsPerWrite: math.NaN(),
		clientCPU:    perOpMicros(cpu0, cpu1, ops),
		serverCPU:    perOpMicros(srv0, srv1, ops),
		setRPS:       math.NaN(),
		getRPS:       math.NaN(),
	}
	if b != nil {
		c1, w1 := b.batchStats()
		if w1 > w0 {
			t.cmdsPerWrite = float64(c1-c0) / float64(w1-w0)
		}
	}
	return t, nil
}

// perOpMicros is the CPU time from t0 to t1 in µs per op; NaN when either
// reading failed (negative) or no op was done.
func perOpMicros(t0, t1 time.Duration, ops int64) float64 {
	if t0 < 0 || t1 < 0 || ops <= 0 {
		return math.NaN()
	}
	return float64(t1-t0) / float64(time.Microsecond) / float64(ops)
}
