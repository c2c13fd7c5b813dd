package redisserver

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: the spawner thread,
// log readers, reapers and Docker log followers all end with their servers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
