//go:build !unix

package redisserver

import (
	"fmt"
	"os"
	"os/exec"
)

// Without process groups and job-control signals (Windows), a server is
// stopped by killing its process, and cannot be paused.

func setProcAttrs(cmd *exec.Cmd) {}

func terminate(p *os.Process) error { return p.Kill() }

func killGroup(p *os.Process) error { return p.Kill() }

func pauseGroup(p *os.Process) error {
	return fmt.Errorf("%w: pausing a process on this OS", ErrNotSupported)
}

func resumeGroup(p *os.Process) error {
	return fmt.Errorf("%w: resuming a process on this OS", ErrNotSupported)
}
