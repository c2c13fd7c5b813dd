//go:build !linux

package redisserver

import "os"

// killLeftovers does nothing outside Linux: without waitid(WNOWAIT) the
// group cannot be signalled safely once its leader has exited. Stop and
// Kill signal the whole group while the server runs.
func killLeftovers(p *os.Process) {}
