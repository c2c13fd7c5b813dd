//go:build linux

package redisserver

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// killLeftovers waits until the server process p has exited, without reaping
// it, and kills what is left of its process group (children it forked, such
// as an RDB or replication child). While p is an unreaped zombie its PID
// cannot be reused, so the group ID still names only its group.
func killLeftovers(p *os.Process) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	_ = killGroup(p)
}
