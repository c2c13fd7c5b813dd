//go:build !linux

package redisserver

import (
	"errors"
	"os"
	"syscall"
)

// Outside Linux there is no boot ID, PID namespace nor process start time
// at hand: a creator counts as gone when its PID does not exist (a reused
// PID keeps its orphans until the next reboot-free chance).

func bootID() string { return "" }

func pidNamespace() string { return "" }

func processStart(pid int) string { return "" }

func processAlive(pid int, start string) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}
