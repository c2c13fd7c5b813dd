package cluster

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
	"github.com/justredis/justredis/redisserver"
)

// BenchmarkDo: SET/GET alternately (16-byte values) from 16, 256 and 2048
// goroutines, on a 3-master cluster and, beside it, on a single server.
// ns/op is per command across all goroutines.
func BenchmarkDo(b *testing.B) {
	c := clusterharness.Run(b, clusterharness.Options{Replicas: -1})
	srv := redisserver.Run(b, redisserver.Options{})
	cm := newClient(b, c)
	sm, err := client.New(client.Config{Endpoints: []string{srv.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sm.Close() })
	val := strings.Repeat("v", 16)
	for _, setup := range []struct {
		name string
		m    *client.Mux
	}{{"cluster", cm}, {"single", sm}} {
		for _, conc := range []int{16, 256, 2048} {
			b.Run(setup.name+"/goroutines="+strconv.Itoa(conc), func(b *testing.B) {
				db := setup.m.Database(0)
				keys := make([]string, conc)
				for i := range keys {
					keys[i] = "bench:" + strconv.Itoa(i)
				}
				b.ReportAllocs()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for g := 0; g < conc; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx := context.Background()
						for {
							i := next.Add(1) - 1
							if i >= int64(b.N) {
								return
							}
							var err error
							if i%2 == 0 {
								_, err = db.Do(ctx, "SET", keys[g], val)
							} else {
								_, err = db.Do(ctx, "GET", keys[g])
							}
							if err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}

// BenchmarkKillToFirstWrite measures, five times, the time from killing a
// master to the first write that succeeds on the replica that replaces it,
// with a writer retrying every 5ms; it reports the median (ms-median).
func BenchmarkKillToFirstWrite(b *testing.B) {
	c := clusterharness.Run(b, clusterharness.Options{})
	m := newClient(b, c)
	ctx := testCtx(b)
	db := m.Database(0).With(client.Retries(0))
	var times []time.Duration
	for i := 0; i < 5; i++ {
		victim := c.Masters()[i%3]
		key := keyInSlot(victim.Slots()[0].Start)
		if _, err := db.Do(ctx, "SET", key, "before"); err != nil {
			b.Fatal(err)
		}
		killed := make(chan time.Time, 1)
		go func() {
			killed <- time.Now()
			_ = c.Kill(ctx, victim)
		}()
		start := <-killed
		tick := time.NewTicker(5 * time.Millisecond)
		for {
			opCtx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := db.Do(opCtx, "SET", key, "after")
			cancel()
			if err == nil {
				break
			}
			<-tick.C
		}
		tick.Stop()
		times = append(times, time.Since(start))
		if err := c.WaitStable(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.Restart(ctx, victim); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(times[0].Milliseconds()), "ms-min")
	b.ReportMetric(float64(times[4].Milliseconds()), "ms-max")
}
