//go:build unix

package redisserver

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs puts the child in a process group of its own, so that signals
// reach everything it forks and nothing from the terminal reaches it.
func setProcAttrs(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// signalGroup sends sig to p's process group (p leads it, see setProcAttrs).
// A group that is already gone is not an error.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// terminate asks the server to shut down (SIGTERM), and wakes it up should
// it be stopped (paused) so that it can.
func terminate(p *os.Process) error {
	if err := signalGroup(p, syscall.SIGTERM); err != nil {
		return err
	}
	return signalGroup(p, syscall.SIGCONT)
}

// killGroup kills the server and everything it forked.
func killGroup(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

// pauseGroup stops the server (SIGSTOP): it keeps its sockets, and the
// kernel still accepts connections on them, but nothing answers.
func pauseGroup(p *os.Process) error { return signalGroup(p, syscall.SIGSTOP) }

// resumeGroup continues a paused server (SIGCONT).
func resumeGroup(p *os.Process) error { return signalGroup(p, syscall.SIGCONT) }
