package faultinject

import (
	"crypto/sha256"
	"io"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestToxicBounds checks that AddToxic and UpdateToxic refuse settings
// beyond the documented bounds (MaxToxicDuration, MaxToxicSize) with
// ErrInvalidToxic: such values used to be accepted, and the first chunk of
// data then made the forwarding goroutine panic (2*Jitter+1 and
// 2*SizeVariation+1 overflowed into the random draw), killing the process.
// After each refusal, data still flows through real TCP connections.
func TestToxicBounds(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("kept", Upstream, Latency{}, 1))
	tests := []struct {
		name  string
		toxic Toxic
	}{
		{"huge jitter", Latency{Jitter: time.Duration(math.MaxInt64)}},
		{"jitter 2562047h", Latency{Jitter: 2562047 * time.Hour}},
		{"jitter just over", Latency{Jitter: MaxToxicDuration + 1}},
		{"delay just over", Latency{Delay: MaxToxicDuration + 1}},
		{"huge delay", Latency{Delay: time.Duration(math.MaxInt64)}},
		{"huge variation", Slicer{AverageSize: 10, SizeVariation: math.MaxInt/2 + 1}},
		{"variation just over", Slicer{AverageSize: 10, SizeVariation: MaxToxicSize + 1}},
		{"average just over", Slicer{AverageSize: MaxToxicSize + 1}},
		{"huge average", Slicer{AverageSize: math.MaxInt}},
		{"slicer delay just over", Slicer{AverageSize: 1, Delay: MaxToxicDuration + 1}},
		{"reset timeout just over", ResetPeer{Timeout: MaxToxicDuration + 1}},
		{"slow close just over", SlowClose{Delay: MaxToxicDuration + 1}},
	}
	for i, tt := range tests {
		err := p.AddToxic(tt.name, Upstream, tt.toxic, 1)
		require.ErrorIs(t, err, ErrInvalidToxic, "AddToxic %s", tt.name)
		require.ErrorIs(t, p.UpdateToxic("kept", tt.toxic, 1), ErrInvalidToxic, "UpdateToxic %s", tt.name)
		_, ok := p.Toxic(tt.name)
		require.False(t, ok, "%s was added", tt.name)
		echoOnce(t, dial(t, p.Addr()), "still alive "+string(rune('a'+i)))
	}
	info, _ := p.Toxic("kept")
	require.Equal(t, Latency{}, info.Toxic, "a refused update changed the toxic")

	// The bounds themselves are accepted.
	for _, tx := range []Toxic{
		Latency{Delay: MaxToxicDuration, Jitter: MaxToxicDuration},
		Slicer{AverageSize: MaxToxicSize, SizeVariation: MaxToxicSize, Delay: MaxToxicDuration},
		ResetPeer{Timeout: MaxToxicDuration},
		SlowClose{Delay: MaxToxicDuration},
		Bandwidth{BytesPerSecond: math.MaxInt64},
		LimitData{Bytes: math.MaxInt64},
	} {
		require.NoError(t, p.UpdateToxic("kept", tx, 0), "%#v", tx)
	}
}

// TestSlicerLargestVariation sends data through a slicer at the largest
// variation allowed, over real TCP: every draw is valid and the data
// arrives intact.
func TestSlicerLargestVariation(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("slice", Upstream, Slicer{AverageSize: 1, SizeVariation: MaxToxicSize}, 1))
	require.NoError(t, p.AddToxic("slice back", Downstream, Slicer{AverageSize: MaxToxicSize, SizeVariation: MaxToxicSize}, 1))
	payload := randomBytes(t, 256<<10)
	sum, n := echoTransfer(t, dial(t, p.Addr()), payload)
	require.Equal(t, len(payload), n)
	require.Equal(t, sha256.Sum256(payload), sum)
}

// TestSymmetricDraw checks the draw behind jitter and slicer variation at
// its extremes, with no overflow whatever the bound: the settings are
// validated, but the arithmetic does not rely on it.
func TestSymmetricDraw(t *testing.T) {
	t.Parallel()
	r := streamRand(1, 0, Upstream)
	for _, v := range []int64{0, 1, 3, MaxToxicSize, int64(MaxToxicDuration), math.MaxInt64 / 2, math.MaxInt64/2 + 1, math.MaxInt64} {
		for range 1000 {
			d := symmetricDraw(r, v)
			require.GreaterOrEqual(t, d, -v, "v=%d", v)
			require.LessOrEqual(t, d, v, "v=%d", v)
		}
	}
	seen := map[int64]bool{}
	for range 1000 {
		seen[symmetricDraw(r, 2)] = true
	}
	assert.Len(t, seen, 5, "every value in [-2, 2] is drawn")
	assert.Equal(t, int64(0), symmetricDraw(r, 0))
	// The same draws as before the change, so that a seed replays the
	// same jitter and piece sizes: symmetricDraw(v) = Int64N(2v+1) - v.
	a, b := streamRand(9, 3, Downstream), streamRand(9, 3, Downstream)
	for range 100 {
		require.Equal(t, b.Int64N(2*1000+1)-1000, symmetricDraw(a, 1000))
	}
}

// TestBandwidthHugeRate checks that a Bandwidth toxic with a huge rate
// (math.MaxInt64, the obvious "unlimited") passes each chunk on whole, at
// once. Its piece size used to overflow into one byte, which made a 1 MiB
// transfer take seconds. A Slicer behind it that waits an hour between
// pieces shows the first piece the bandwidth toxic handed on: the whole
// chunk, not one byte.
func TestBandwidthHugeRate(t *testing.T) {
	t.Parallel()
	payload := []byte("hello, unlimited world")
	for _, rate := range []int64{math.MaxInt64, math.MaxInt64 / 2, 1 << 40} {
		p := newTestProxy(t, startGreeter(t, payload).addr())
		require.NoError(t, p.AddToxic("bw", Downstream, Bandwidth{BytesPerSecond: rate}, 1))
		require.NoError(t, p.AddToxic("slice", Downstream, Slicer{AverageSize: len(payload), Delay: time.Hour}, 1))
		c := dial(t, p.Addr())
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		require.NoError(t, err)
		require.Equal(t, string(payload), string(buf[:n]), "rate %d: the first piece", rate)
		require.NoError(t, p.RemoveToxic("slice"))
		rest, err := readAll(c)
		require.ErrorIs(t, err, io.EOF)
		require.Empty(t, rest)
	}
}
