package faultinject

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChangesDuringTransfer adds, updates and removes toxics on both
// directions, and pauses and resumes, while several megabytes flow through
// an echo server: every byte must come back once and in order.
func TestChangesDuringTransfer(t *testing.T) {
	t.Parallel()
	const size, piece = 6 << 20, 128 << 10
	p := newTestProxy(t, startEcho(t).addr())
	payload := randomBytes(t, size)

	done := make(chan struct{})
	step := make(chan struct{}, 1)
	churned := make(chan struct{})
	result := make(chan churnResult, 1)
	go func() {
		defer close(churned)
		result <- churn(p, done, step)
	}()

	// The client writes the payload in pieces, each after two or more new
	// changes, so that the toxics change throughout the transfer however
	// fast the proxy is.
	c := dial(t, p.Addr())
	werr := make(chan error, 1)
	go func() { werr <- writeStepped(c, payload, piece, step, churned) }()
	h := sha256.New()
	n, err := io.Copy(h, c)
	close(done)
	r := recv(t, result)
	require.NoError(t, r.err)
	require.NoError(t, err)
	require.NoError(t, recv(t, werr))
	require.Equal(t, len(payload), int(n))
	require.Equal(t, sha256.Sum256(payload), [32]byte(h.Sum(nil)))
	require.GreaterOrEqual(t, r.changes, 2*size/piece, "the toxics changed while data flowed")
	t.Logf("%d changes during the transfer", r.changes)
}

// writeStepped writes payload to c in pieces of piece bytes, each after
// three tokens from step (at most one of them is older than the previous
// piece), and then closes c's write side. It gives up when stop is closed.
// It runs on its own goroutine, so it returns the error instead of failing
// the test.
func writeStepped(c *net.TCPConn, payload []byte, piece int, step, stop <-chan struct{}) error {
	for rest := payload; len(rest) > 0; {
		for range 3 {
			select {
			case <-step:
			case <-stop:
				_ = c.CloseWrite()
				return errors.New("the toxics stopped changing")
			}
		}
		n := min(len(rest), piece)
		if _, err := c.Write(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return c.CloseWrite()
}

type churnResult struct {
	changes int
	err     error
}

// churn changes p's toxics every millisecond until done is closed, and after
// each change leaves a token in step (capacity 1) if there is none. It runs on
// its own goroutine, so it reports instead of failing the test.
func churn(p *Proxy, done <-chan struct{}, step chan<- struct{}) churnResult {
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
			signal(step)
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
		signal(step)
	}
}

// signal leaves a token in ch unless one is there.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
