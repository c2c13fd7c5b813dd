package client

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/justredis/justredis/redisserver"
)

// BenchmarkDo: SET and GET alternately (16-byte values) from 1, 16, 256 and
// 2048 goroutines sharing one Mux, against a private server. ns/op is per
// command across all goroutines (so ops/s = 1e9 / ns/op).
func BenchmarkDo(b *testing.B) {
	srv := startServer(b, redisserver.Options{})
	m := newMux(b, Config{Endpoints: []string{srv.Addr()}})
	db := m.Database(0)
	ctx := context.Background()
	val := strings.Repeat("v", 16)
	for _, conc := range []int{1, 16, 256, 2048} {
		b.Run("goroutines="+strconv.Itoa(conc), func(b *testing.B) {
			keys := make([]string, conc)
			for i := range keys {
				keys[i] = "bench:" + strconv.Itoa(i)
			}
			defer measure(b, m, srv)()
			runConcurrent(b, conc, func(g int, i int) {
				var err error
				if i%2 == 0 {
					_, err = db.Do(ctx, "SET", keys[g], val)
				} else {
					_, err = db.Do(ctx, "GET", keys[g])
				}
				if err != nil {
					b.Error(err)
				}
			})
		})
	}
}

// measure starts reporting allocations, commands per write and CPU per op
// (the client's and the server's) for b; call what it returns at the end.
func measure(b *testing.B, m *Mux, srv *redisserver.Server) func() {
	b.Helper()
	b.ReportAllocs()
	s0, cpu := m.Stats(), startCPU(srv.PID())
	return func() {
		s := m.Stats()
		b.ReportMetric(float64(s.Commands-s0.Commands)/float64(s.Writes-s0.Writes), "cmds/write")
		cpu.report(b)
	}
}

// runConcurrent spreads b.N calls of op over n goroutines.
func runConcurrent(b *testing.B, n int, op func(g, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				op(g, int(i))
			}
		}()
	}
	wg.Wait()
}

// BenchmarkDoStrings is BenchmarkDo through DoStrings (no interface
// conversions: the reply is the only allocation).
func BenchmarkDoStrings(b *testing.B) {
	srv := startServer(b, redisserver.Options{})
	m := newMux(b, Config{Endpoints: []string{srv.Addr()}})
	db := m.Database(0)
	ctx := context.Background()
	val := strings.Repeat("v", 16)
	for _, conc := range []int{1, 256} {
		b.Run("goroutines="+strconv.Itoa(conc), func(b *testing.B) {
			keys := make([]string, conc)
			for i := range keys {
				keys[i] = "bench:" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			runConcurrent(b, conc, func(g int, i int) {
				var err error
				if i%2 == 0 {
					_, err = db.DoStrings(ctx, "SET", keys[g], val)
				} else {
					_, err = db.DoStrings(ctx, "GET", keys[g])
				}
				if err != nil {
					b.Error(err)
				}
			})
		})
	}
}

// BenchmarkDoLarge: BenchmarkDo's load with 4 KiB values, each goroutine
// alternating SET and GET on its own key under one shared cancellable
// context, as the bench program does: here the client's copies and the
// socket's system calls, not the per-command overhead, set the pace.
func BenchmarkDoLarge(b *testing.B) {
	srv := startServer(b, redisserver.Options{})
	m := newMux(b, Config{Endpoints: []string{srv.Addr()}})
	db := m.Database(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	val := strings.Repeat("v", 4096)
	for _, conc := range []int{256, 2048} {
		b.Run("goroutines="+strconv.Itoa(conc), func(b *testing.B) {
			set, get := make([][]any, conc), make([][]any, conc)
			for g := range set {
				key := "bench:" + strconv.Itoa(g)
				set[g], get[g] = []any{"SET", key, val}, []any{"GET", key}
			}
			defer measure(b, m, srv)()
			var turn = make([]int, conc)
			runConcurrent(b, conc, func(g int, _ int) {
				args := set[g]
				if turn[g]%2 == 1 {
					args = get[g]
				}
				turn[g]++
				v, err := db.Do(ctx, args...)
				if err != nil {
					b.Error(err)
				} else if turn[g]%2 == 0 && len(v.Str) != len(val) {
					b.Errorf("GET: %d bytes, want %d", len(v.Str), len(val))
				}
			})
		})
	}
}
