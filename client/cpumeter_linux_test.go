package client

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuMeter measures the CPU time (user + system) of this process and of a
// server process across a benchmark, reported per operation: where the
// cores are saturated (client, server and kernel share two of them), the
// CPU an operation costs is what bounds throughput, and it is far steadier
// than wall time on a shared machine.
type cpuMeter struct {
	pid       int
	self, srv time.Duration
}

// startCPU starts measuring this process and the server with this pid (0:
// this process only).
func startCPU(pid int) cpuMeter {
	return cpuMeter{pid: pid, self: selfCPU(), srv: procCPU(pid)}
}

// report adds client-µs/op and server-µs/op to b's results.
func (m cpuMeter) report(b *testing.B) {
	b.Helper()
	n := float64(b.N)
	if self := selfCPU(); self >= 0 && m.self >= 0 {
		b.ReportMetric(float64(self-m.self)/float64(time.Microsecond)/n, "client-µs/op")
	}
	if srv := procCPU(m.pid); srv >= 0 && m.srv >= 0 {
		b.ReportMetric(float64(srv-m.srv)/float64(time.Microsecond)/n, "server-µs/op")
	}
}

// selfCPU is this process's CPU time so far; -1 when it cannot be read.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime + stime of a process from /proc (in clock ticks of
// 10 ms, the USER_HZ Linux reports them in everywhere); -1 when there is
// no such process or its line cannot be read. (bench/cpu_linux.go reads
// it the same way, for the same reasons: the modules share no code.)
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+1:] // the command name may hold spaces
	f := strings.Fields(s)
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of the whole line
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * 10 * time.Millisecond
}
