package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// machineLine describes where the numbers come from: cores, CPU, OS, Go,
// Redis and the network (always loopback: every server is private).
func machineLine(redisVersion string) string {
	cores := fmt.Sprintf("%d cores", runtime.NumCPU())
	if p := runtime.GOMAXPROCS(0); p != runtime.NumCPU() {
		cores += fmt.Sprintf(" (GOMAXPROCS %d)", p)
	}
	if m := cpuModel(); m != "" {
		cores += " " + m
	}
	return fmt.Sprintf("%s, %s/%s, %s, Redis %s, loopback", cores, runtime.GOOS, runtime.GOARCH, runtime.Version(), redisVersion)
}

// cpuModel is the CPU's model name on Linux, else "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAverage is the one-minute load average on Linux, else "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
