package main

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serversCPU is the CPU time the processes pids have used: the sum of
// their threads' run time in /proc/<pid>/task/<tid>/schedstat, in
// nanoseconds; failing that, utime + stime from /proc/<pid>/stat, in clock
// ticks of 10 ms (±1% of a 2 s trial per process). -1 when neither can be
// read.
func serversCPU(pids []int) time.Duration {
	if len(pids) == 0 {
		return -1
	}
	if d, ok := schedstatCPU(pids); ok {
		return d
	}
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return -1
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // the name may hold spaces
		if len(f) < 13 {
			return -1
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of the line
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return -1
		}
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// schedstatCPU sums the run time of every thread of the processes pids,
// from schedstat (nanoseconds); ok is false when one cannot be read.
func schedstatCPU(pids []int) (time.Duration, bool) {
	var total time.Duration
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/task"
		tasks, err := os.ReadDir(dir)
		if err != nil || len(tasks) == 0 {
			return 0, false
		}
		for _, t := range tasks {
			b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
			if errors.Is(err, fs.ErrNotExist) {
				continue // the thread has just ended
			}
			if err != nil {
				return 0, false
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				return 0, false
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, false
			}
			total += time.Duration(ns)
		}
	}
	return total, true
}
