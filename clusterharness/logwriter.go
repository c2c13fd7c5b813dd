package clusterharness

import (
	"io"
	"sync"
)

// lockedWriter is the Node.Log of every node of a cluster: redisserver
// writes each server's log from that server's own goroutines, so the nodes
// would write a shared writer at the same time. It lets one Write through
// at a time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer // the caller's Node.Log; written under mu
}

// Write implements io.Writer.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
