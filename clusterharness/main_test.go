package clusterharness

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: the harness's
// pollers and redisserver's log readers end with the clusters.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
