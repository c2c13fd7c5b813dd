package faultinject

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChangesDuringTransfer adds, updates and removes toxics on both
// directions, and pauses and resumes, while several megabytes flow through
// an echo server: every byte must come back once and in order.
func TestChangesDuringTransfer(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	payload := randomBytes(t, 6<<20)

	done := make(chan struct{})
	result := make(chan churnResult, 1)
	go func() { result <- churn(p, done) }()

	sum, n := echoTransfer(t, dial(t, p.Addr()), payload)
	close(done)
	r := recv(t, result)
	require.NoError(t, r.err)
	require.Equal(t, len(payload), n)
	require.Equal(t, sha256.Sum256(payload), sum)
	require.Greater(t, r.changes, 20, "the toxics changed while data flowed")
	t.Logf("%d changes during the transfer", r.changes)
}

type churnResult struct {
	changes int
	err     error
}

// churn changes p's toxics every millisecond until done is closed. It runs on
// its own goroutine, so it reports instead of failing the test.
func churn(p *Proxy, done <-chan struct{}) churnResult {
	rnd := rand.New(rand.NewPCG(1, 2))
	toxics := []struct {
		name string
		dir  Direction
		make func() Toxic
	}{
		{"lat-up", Upstream, func() Toxic {
			return Latency{Delay: time.Duration(rnd.IntN(2000)) * time.Microsecond, Jitter: time.Duration(rnd.IntN(500)) * time.Microsecond}
		}},
		{"lat-down", Downstream, func() Toxic { return Latency{Delay: time.Duration(rnd.IntN(1000)) * time.Microsecond} }},
		{"slice-up", Upstream, func() Toxic { return Slicer{AverageSize: 1 + rnd.IntN(8192), SizeVariation: rnd.IntN(1000)} }},
		{"slice-down", Downstream, func() Toxic { return Slicer{AverageSize: 1 + rnd.IntN(8192), SizeVariation: rnd.IntN(1000)} }},
		{"bw-up", Upstream, func() Toxic { return Bandwidth{BytesPerSecond: int64(32+rnd.IntN(64)) << 20} }},
		{"bw-down", Downstream, func() Toxic { return Bandwidth{BytesPerSecond: int64(32+rnd.IntN(64)) << 20} }},
		{"limit-up", Upstream, func() Toxic { return LimitData{Bytes: 1 << 40} }},
		{"close-down", Downstream, func() Toxic { return SlowClose{Delay: time.Millisecond} }},
	}
	present := make([]bool, len(toxics))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	defer p.Resume()
	changes := 0
	for {
		select {
		case <-done:
			return churnResult{changes: changes}
		case <-tick.C:
		}
		i := rnd.IntN(len(toxics) + 1)
		if i == len(toxics) {
			if p.Paused() {
				p.Resume()
			} else {
				p.Pause()
			}
			changes++
			continue
		}
		tx := toxics[i]
		var err error
		switch {
		case !present[i]:
			err = p.AddToxic(tx.name, tx.dir, tx.make(), 1)
			present[i] = true
		case rnd.IntN(2) == 0:
			err = p.UpdateToxic(tx.name, tx.make(), 1)
		default:
			err = p.RemoveToxic(tx.name)
			present[i] = false
		}
		if err != nil {
			return churnResult{changes: changes, err: fmt.Errorf("change %d on %s: %w", changes, tx.name, err)}
		}
		changes++
	}
}
