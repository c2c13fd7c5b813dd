package redisserver

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkStart measures the time to a ready server (Start until the ready
// log line and a PING answered), one server at a time, and reports the
// median as ms/ready (besides ns/op, which includes Stop). Measure the
// median of 20 with -bench=BenchmarkStart -benchtime=20x.
func BenchmarkStart(b *testing.B) {
	for _, be := range allBackends {
		b.Run(be.String(), func(b *testing.B) {
			if be == BackendContainer {
				requireDocker(b)
			}
			ctx := context.Background()
			// Warm up: the image build, the first reap of orphans.
			s, err := Start(ctx, Options{Backend: be})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			var ready []time.Duration
			for b.Loop() {
				t0 := time.Now()
				s, err := Start(ctx, Options{Backend: be})
				ready = append(ready, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Stop(ctx); err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(ready)
			median := ready[len(ready)/2]
			if len(ready)%2 == 0 {
				median = (ready[len(ready)/2-1] + ready[len(ready)/2]) / 2
			}
			b.ReportMetric(float64(median)/float64(time.Millisecond), "ms/ready")
			b.ReportMetric(float64(ready[0])/float64(time.Millisecond), "ms/ready-min")
			b.ReportMetric(float64(ready[len(ready)-1])/float64(time.Millisecond), "ms/ready-max")
		})
	}
}
