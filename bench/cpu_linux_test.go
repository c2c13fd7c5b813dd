package main

import (
	"os"
	"testing"
	"time"
)

// serversCPU reads threads' run time in nanoseconds: for this process,
// busy for a while, it agrees with getrusage.
func TestServersCPUAgreesWithRusage(t *testing.T) {
	pid := []int{os.Getpid()}
	s0, r0 := serversCPU(pid), processCPU()
	if _, ok := schedstatCPU(pid); !ok {
		t.Skip("no schedstat in /proc here: serversCPU falls back to clock ticks")
	}
	x := 0
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	s1, r1 := serversCPU(pid), processCPU()
	ds, dr := s1-s0, r1-r0
	if dr < 100*time.Millisecond || ds < dr*8/10 || ds > dr*12/10 {
		t.Fatalf("schedstat says %v, getrusage %v (loop %d)", ds, dr, x)
	}
}
