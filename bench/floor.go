package main

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The floor is what the Go runtime alone charges, on this machine, for the
// hand-offs every goroutine-per-caller client makes: each of conc
// goroutines queues a request on a mutex-guarded queue (waking one server
// goroutine when the queue was empty) and waits on a channel of its own;
// the server goroutine takes the queue in batches and signals every
// request of a batch. No I/O, no encoding, no parsing: park, wake,
// schedule, lock. Its CPU per operation is a lower bound for any such
// client's, and it depends on the machine far more than redis-benchmark
// does: measured 0.45 to 1.5 µs per operation at 2048 goroutines on the
// same 2-core VM minutes apart (with GOMAXPROCS=1, 0.4 to 0.5), depending
// on how costly it is to hand goroutines from one core to the other. It is
// the yardstick for "ours ≥ 40% of the ceiling": on a machine where the
// floor is high, every Go client's CPU per command is.
const floorName = "go-handoff"

// floorRequest is one goroutine's request to the floor's server.
type floorRequest struct {
	done chan struct{}
}

// runFloor runs the floor's pattern with conc goroutines for d and returns
// its operations per second and this process's CPU µs per operation.
func runFloor(ctx context.Context, conc int, d time.Duration) (trial, error) {
	var (
		mu      sync.Mutex
		queue   []*floorRequest
		wake    = make(chan struct{}, 1)
		quit    = make(chan struct{})
		stop    atomic.Bool
		callers sync.WaitGroup
		served  = make(chan struct{})
		counts  = make([]int64, conc)
		start   = make(chan struct{})
	)
	go func() {
		defer close(served)
		var batch []*floorRequest
		for {
			select {
			case <-wake:
			case <-quit:
				return
			}
			mu.Lock()
			batch, queue = queue, batch[:0]
			mu.Unlock()
			for i, r := range batch {
				r.done <- struct{}{}
				batch[i] = nil
			}
		}
	}()
	for g := range conc {
		callers.Add(1)
		go func() {
			defer callers.Done()
			r := &floorRequest{done: make(chan struct{}, 1)}
			<-start
			var n int64
			for !stop.Load() {
				mu.Lock()
				queue = append(queue, r)
				first := len(queue) == 1
				mu.Unlock()
				if first {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
				<-r.done
				n++
			}
			counts[g] = n
		}()
	}

	cpu0 := processCPU()
	t0 := time.Now()
	close(start)
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	stop.Store(true)
	callers.Wait() // the server serves until every caller has left
	elapsed := time.Since(t0)
	cpu1 := processCPU()
	close(quit)
	<-served
	if err := ctx.Err(); err != nil {
		return trial{}, err
	}

	var ops int64
	for _, n := range counts {
		ops += n
	}
	return trial{
		ops:          ops,
		elapsed:      elapsed,
		opsPerSec:    float64(ops) / elapsed.Seconds(),
		allocsPerOp:  math.NaN(),
		bytesPerOp:   math.NaN(),
		gcPer10k:     math.NaN(),
		cmdsPerWrite: math.NaN(),
		clientCPU:    perOpMicros(cpu0, cpu1, ops),
		serverCPU:    math.NaN(),
		setRPS:       math.NaN(),
		getRPS:       math.NaN(),
	}, nil
}
