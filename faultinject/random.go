package faultinject

import (
	"hash/fnv"
	"math/rand/v2"
)

// Randomness. Nothing here depends on time or on goroutine scheduling:
//
//   - Whether a toxic applies to a connection is a pure function of the seed,
//     the connection's index and the toxic's name (toxicityDraw), so it does not
//     matter when the toxic was added or in which order connections run.
//   - Each direction of each connection owns a PCG generator seeded from the
//     seed, the connection's index and the direction (streamRand); only that
//     direction's forwarding goroutine draws from it (latency jitter, slicer
//     piece sizes).

// splitmix64 is the SplitMix64 finaliser: a bijective mix of x.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// streamRand returns the random source of one direction of connection index.
func streamRand(seed int64, index uint64, dir Direction) *rand.Rand {
	hi := splitmix64(uint64(seed))
	lo := splitmix64(hi ^ splitmix64(index<<1|uint64(dir)))
	return rand.New(rand.NewPCG(hi, lo))
}

// toxicityDraw returns the connection's fixed uniform number in [0, 1) for the
// toxic called name.
func toxicityDraw(seed int64, index uint64, name string) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	x := splitmix64(uint64(seed))
	x = splitmix64(x ^ index)
	x = splitmix64(x ^ h.Sum64())
	return float64(x>>11) / (1 << 53)
}

// applies reports whether a toxic called name with the given toxicity applies
// to connection index: toxicity 1 always, 0 never, otherwise when the
// connection's draw for that name is below toxicity.
func applies(seed int64, index uint64, name string, toxicity float64) bool {
	if toxicity >= 1 {
		return true
	}
	if toxicity <= 0 {
		return false
	}
	return toxicityDraw(seed, index, name) < toxicity
}
