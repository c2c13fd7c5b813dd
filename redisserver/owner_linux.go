//go:build linux

package redisserver

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// pidNamespace returns the inode number of this process's PID namespace,
// or "" when it cannot be read.
func pidNamespace() string {
	fi, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return strconv.FormatUint(st.Ino, 10)
}

// bootID returns the kernel's boot ID, which changes at every boot.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// processStart returns the start time of process pid (field 22 of
// /proc/<pid>/stat, clock ticks since boot), or "" when it does not exist.
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	return statStartTime(string(b))
}

// processAlive reports whether process pid exists and, when start is known,
// is the same process (not a reused PID). A zombie counts as gone.
func processAlive(pid int, start string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	stat := string(b)
	if state := statField(stat, 3); state == "Z" || state == "X" {
		return false
	}
	return start == "" || statStartTime(stat) == start
}
