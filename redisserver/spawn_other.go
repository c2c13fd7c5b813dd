//go:build !linux

package redisserver

import "os/exec"

// startProcess starts cmd. Outside Linux there is no Pdeathsig: a server
// outlives a test binary that is killed without running its cleanup (see
// the package documentation).
func startProcess(cmd *exec.Cmd) (release func(), err error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() {}, nil
}
