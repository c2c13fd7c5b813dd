//go:build linux

package redisserver

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// On Linux every redis-server is started with Pdeathsig SIGKILL, so that it
// dies with the test binary even when the binary is killed with SIGKILL and
// runs no cleanup. The kernel sends that signal when the *thread* that
// forked the child exits, and Go threads come and go, so every child is
// started from one goroutine that has locked its OS thread. That goroutine
// (and its thread) lives as long as a child started from it is alive: it
// exits when the last one has been waited for, so a test binary whose
// servers are all stopped has no goroutine of ours left (goleak-clean).

// spawner owns the locked thread.
var spawner struct {
	mu   sync.Mutex
	refs int           // guarded by mu: children started (or starting) and not yet waited for
	reqs chan spawnReq // guarded by mu: the thread goroutine's queue; nil when it is not running
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error // receives cmd.Start's result
}

// startProcess starts cmd from the locked spawner thread with Pdeathsig set.
// After cmd.Wait has returned, the caller must call release exactly once.
func startProcess(cmd *exec.Cmd) (release func(), err error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL

	spawner.mu.Lock()
	if spawner.reqs == nil {
		spawner.reqs = make(chan spawnReq)
		go spawnLoop(spawner.reqs)
	}
	spawner.refs++
	reqs := spawner.reqs
	spawner.mu.Unlock()

	req := spawnReq{cmd: cmd, done: make(chan error, 1)}
	reqs <- req
	if err := <-req.done; err != nil {
		spawnRelease()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(spawnRelease) }, nil
}

// spawnRelease drops one reference; the last one stops the thread goroutine.
// Only holders of a reference send requests, so nothing is sent after the
// close.
func spawnRelease() {
	spawner.mu.Lock()
	defer spawner.mu.Unlock()
	spawner.refs--
	if spawner.refs == 0 {
		close(spawner.reqs)
		spawner.reqs = nil
	}
}

// spawnLoop runs on its own locked OS thread and never unlocks it: when it
// returns, the runtime ends the thread, which happens only once no child
// started from it is left.
func spawnLoop(reqs <-chan spawnReq) {
	runtime.LockOSThread()
	for req := range reqs {
		req.done <- req.cmd.Start()
	}
}
