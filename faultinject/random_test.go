package faultinject

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestToxicityDraw(t *testing.T) {
	t.Parallel()
	const n = 20000
	hits := 0
	for i := range uint64(n) {
		u := toxicityDraw(5, i, "x")
		require.GreaterOrEqual(t, u, 0.0)
		require.Less(t, u, 1.0)
		require.Equal(t, u, toxicityDraw(5, i, "x"), "a pure function")
		if u < 0.3 {
			hits++
		}
	}
	assert.InDelta(t, 0.3, float64(hits)/n, 0.02, "roughly uniform")
	assert.NotEqual(t, toxicityDraw(5, 0, "x"), toxicityDraw(6, 0, "x"), "depends on the seed")
	assert.NotEqual(t, toxicityDraw(5, 0, "x"), toxicityDraw(5, 0, "y"), "depends on the name")
	assert.True(t, applies(5, 0, "x", 1))
	assert.False(t, applies(5, 0, "x", 0))
}

func TestStreamRand(t *testing.T) {
	t.Parallel()
	draw := func(seed int64, index uint64, dir Direction) []uint64 {
		r := streamRand(seed, index, dir)
		out := make([]uint64, 8)
		for i := range out {
			out[i] = r.Uint64()
		}
		return out
	}
	require.Equal(t, draw(1, 2, Upstream), draw(1, 2, Upstream))
	require.NotEqual(t, draw(1, 2, Upstream), draw(1, 2, Downstream))
	require.NotEqual(t, draw(1, 2, Upstream), draw(1, 3, Upstream))
	require.NotEqual(t, draw(1, 2, Upstream), draw(2, 2, Upstream))
}

func TestSliceSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s        Slicer
		min, max int
	}{
		{Slicer{AverageSize: 1}, 1, 1},
		{Slicer{AverageSize: 10}, 10, 10},
		{Slicer{AverageSize: 10, SizeVariation: 3}, 7, 13},
		{Slicer{AverageSize: 2, SizeVariation: 5}, 1, 7},
	}
	for _, tt := range tests {
		r := streamRand(1, 0, Upstream)
		seen := map[int]bool{}
		for range 1000 {
			n := sliceSize(r, tt.s)
			require.GreaterOrEqual(t, n, tt.min)
			require.LessOrEqual(t, n, tt.max)
			seen[n] = true
		}
		assert.Len(t, seen, tt.max-tt.min+1, "every size in range is drawn: %+v", tt.s)
	}
}
