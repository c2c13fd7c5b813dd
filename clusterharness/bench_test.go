package clusterharness

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
)

var benchBackends = []redisserver.Backend{redisserver.BackendBinary, redisserver.BackendContainer}

// reportMedian reports the median, minimum and maximum of ds in ms/<unit>.
func reportMedian(b *testing.B, ds []time.Duration, unit string) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	median := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		median = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(median), "ms/"+unit)
	b.ReportMetric(ms(ds[0]), "ms/"+unit+"-min")
	b.ReportMetric(ms(ds[len(ds)-1]), "ms/"+unit+"-max")
}

// BenchmarkStart measures the time to a ready (stable) cluster of three
// masters and three replicas, one cluster at a time, and reports the median
// as ms/ready. Measure the median of 5 with
// -bench=BenchmarkStart -benchtime=5x.
func BenchmarkStart(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.String(), func(b *testing.B) {
			if be == redisserver.BackendContainer {
				requireDocker(b)
			}
			ctx := context.Background()
			opts := Options{Node: redisserver.Options{Backend: be}}
			// Warm up: the image build, the first reap of orphans.
			c, err := Start(ctx, Options{Masters: 1, Replicas: -1, Node: opts.Node})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			var ready []time.Duration
			for b.Loop() {
				t0 := time.Now()
				c, err := Start(ctx, opts)
				ready = append(ready, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Stop(ctx); err != nil {
					b.Fatal(err)
				}
			}
			reportMedian(b, ready, "ready")
		})
	}
}

// BenchmarkKillMaster kills a master of a 3+3 cluster and measures the time
// until Kill returns, the cluster stable again with the replica promoted
// (ms/stable), and the time until a SET sent to that replica every 5 ms
// first succeeds (ms/first-write). The master is restarted between rounds
// (not measured). Measure the median of 5 with
// -bench=BenchmarkKillMaster -benchtime=5x.
func BenchmarkKillMaster(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.String(), func(b *testing.B) {
			if be == redisserver.BackendContainer {
				requireDocker(b)
			}
			c := Run(b, Options{Node: redisserver.Options{Backend: be}})
			ctx := b.Context()
			var stable, firstWrite []time.Duration
			for b.Loop() {
				master, replica := masterWithReplica(b, c)
				key := KeyInSlot(master.Slots()[0].Start)
				wrote := make(chan time.Duration, 1)
				wctx, cancel := context.WithCancel(ctx)
				t0 := time.Now()
				go func() {
					ticker := time.NewTicker(5 * time.Millisecond)
					defer ticker.Stop()
					for {
						if _, err := replica.Server().Do(wctx, "SET", key, "v"); err == nil {
							wrote <- time.Since(t0)
							return
						}
						select {
						case <-wctx.Done():
							wrote <- -1
							return
						case <-ticker.C:
						}
					}
				}()
				err := c.Kill(ctx, master)
				stable = append(stable, time.Since(t0))
				if err != nil {
					cancel()
					<-wrote
					b.Fatal(err)
				}
				w := <-wrote
				cancel()
				if w < 0 {
					b.Fatal("no write succeeded on the promoted replica")
				}
				firstWrite = append(firstWrite, w)
				b.StopTimer()
				if err := c.Restart(ctx, master); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			reportMedian(b, stable, "stable")
			reportMedian(b, firstWrite, "first-write")
		})
	}
}
