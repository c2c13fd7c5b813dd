//go:build !linux

package main

import "time"

// processCPU: not measured off Linux.
func processCPU() time.Duration { return -1 }

// serversCPU: not measured off Linux.
func serversCPU([]int) time.Duration { return -1 }
