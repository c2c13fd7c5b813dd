package cluster

import (
	"context"
	"strings"
	"testing"

	"github.com/justredis/justredis/clusterharness"
)

// The allocation budget of the hot path on a cluster is the single
// server's (make test runs the Allocation tests once more without -race,
// whose sync.Pool drops objects on purpose): routing a one-key command by
// its slot allocates nothing; a SET through DoStrings with a reused
// argument slice allocates nothing, a GET its reply.
func TestAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Log("the race detector makes sync.Pool drop objects: budgets are checked by the non-race pass of make test")
		return
	}
	c := clusterharness.Run(t, clusterharness.Options{Replicas: -1})
	m := newClient(t, c)
	db := m.Database(0)
	ctx := context.Background()
	key, val := strings.Repeat("k", 8), strings.Repeat("v", 16)
	set := []string{"SET", key, val}
	get := []string{"GET", key}
	setAny, getAny := []any{"SET", key, val}, []any{"GET", key}
	hset := []any{"HSET", "{" + key + "}h", "f", val}
	if _, err := db.Do(ctx, setAny...); err != nil { // learn the topology and dial
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		budget float64
		run    func() error
	}{
		{"DoStrings SET", 0, func() error { _, err := db.DoStrings(ctx, set...); return err }},
		{"DoStrings GET", 1, func() error { _, err := db.DoStrings(ctx, get...); return err }},
		{"Do SET, args boxed once", 0, func() error { _, err := db.Do(ctx, setAny...); return err }},
		{"Do GET, args boxed once", 1, func() error { _, err := db.Do(ctx, getAny...); return err }},
		{"Do HSET, args boxed once", 0, func() error { _, err := db.Do(ctx, hset...); return err }},
	} {
		if n := testing.AllocsPerRun(500, func() {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
		}); n > tt.budget {
			t.Errorf("%s: %v allocations per call, budget %v", tt.name, n, tt.budget)
		}
	}
}
