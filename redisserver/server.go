package redisserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// state is where a Server is in its life.
type state int

const (
	stateNew     state = iota // created, not started yet
	stateRunning              // started and ready (it may have died on its own since)
	statePaused               // running, but stopped with SIGSTOP or docker pause
	stateDown                 // killed, or a restart failed; Restart starts it again
	stateClosing              // Stop was called and could not remove everything; Stop tries again
	stateStopped              // Stop was called and removed everything; final
)

// stopped reports whether Stop was called: every method but Stop then
// returns ErrStopped.
func (st state) stopped() bool { return st == stateClosing || st == stateStopped }

// backend is what differs between a local process and a container. Server
// serialises calls to it under Server.mu.
type backend interface {
	// prepare does the one-time work before the first start and returns the
	// host of the server's address.
	prepare(ctx context.Context) (host string, err error)
	// start starts redis-server on port and returns a channel closed when
	// this run has ended (the process was reaped, or the container stopped,
	// and its log drained). It does not wait for readiness.
	start(ctx context.Context, port int) (done <-chan struct{}, err error)
	// discard undoes what a failed first start left behind, before a retry
	// on another port.
	discard(ctx context.Context) error
	// stop ends the current run, if any: SIGTERM, then SIGKILL after grace
	// or when ctx ends; it returns once the run is over.
	stop(ctx context.Context, grace time.Duration) error
	// kill ends the current run with SIGKILL and waits until it is over.
	kill(ctx context.Context) error
	pause(ctx context.Context) error
	resume(ctx context.Context) error
	// alive reports whether a run is in progress (not exited).
	alive() bool
	// close removes what the server owns (directory, container); after stop.
	close(ctx context.Context) error
}

// Server is a private redis-server, started by Start or Run. Its methods are
// safe for concurrent use; the lifecycle methods (Stop, Kill, Restart,
// Pause, Resume, and the network ones) run one at a time.
type Server struct {
	opts      Options     // immutable after Start
	backend   Backend     // resolved; immutable
	logs      *logBuffer  // has its own lock
	clientTLS *tls.Config // Do's TLS configuration, or nil; immutable

	addrMu sync.Mutex
	host   string // guarded by addrMu: set by the first start
	port   int    // guarded by addrMu: set by the first start

	mu       sync.Mutex
	b        backend // guarded by mu (its methods are called with mu held)
	state    state   // guarded by mu
	reserved bool    // guarded by mu: port (and bus port) are in reservedPorts

	// portChosen, when set (by tests), is called with each port firstStart
	// chooses, before the server is started on it.
	portChosen func(port int)
}

// Addr returns the "host:port" the server listens on, reachable from the
// test process: 127.0.0.1 for the binary backend, the Docker network's
// gateway address for containers (reachable from other containers too).
func (s *Server) Addr() string {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// Host returns the host part of Addr.
func (s *Server) Host() string {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.host
}

// Port returns the port of Addr. It never changes, Restart included. In
// cluster mode the cluster bus listens on Port()+ClusterBusPortOffset.
func (s *Server) Port() int {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.port
}

// Backend returns the backend the server runs on (never BackendAuto).
func (s *Server) Backend() Backend { return s.backend }

// Options returns (a copy of) the options the server was started with,
// Backend resolved.
func (s *Server) Options() Options {
	o := s.opts
	o.Config = slices.Clone(o.Config)
	o.Args = slices.Clone(o.Args)
	o.Users = slices.Clone(o.Users)
	for i := range o.Users {
		o.Users[i].Rules = slices.Clone(o.Users[i].Rules)
	}
	if o.TLS != nil {
		t := *o.TLS
		o.TLS = &t
	}
	return o
}

// Logs returns the server's log (its last Options.LogLimit bytes), all runs
// included.
func (s *Server) Logs() string { return s.logs.String() }

// TLSConfig returns a copy of the TLS configuration Do uses, or nil when the
// server does not speak TLS. Clients under test can use it to connect.
func (s *Server) TLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Stop stops the server for good: SIGTERM, then SIGKILL after
// Options.StopTimeout or when ctx ends, then it removes the server's
// directory (or container). The removal is not cut short by ctx: it runs
// under a context of its own, bounded by DefaultDockerTimeout, so a Stop
// with a short or ended context still leaves nothing behind. If the
// removal fails, Stop returns the error and the server counts as stopped
// for every other method (ErrStopped), but the next Stop tries the removal
// again. Stopping a stopped server does nothing. Run calls Stop at the end
// of the test.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateStopped {
		return nil
	}
	var errs []error
	if s.state != stateNew {
		errs = append(errs, s.b.stop(ctx, s.opts.stopTimeout()))
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultDockerTimeout)
	defer cancel()
	errs = append(errs, s.b.close(rctx))
	if s.reserved {
		releasePort(s.Port(), s.opts.Cluster)
		s.reserved = false
	}
	if err := errors.Join(errs...); err != nil {
		s.state = stateClosing
		return fmt.Errorf("redisserver: stop %s: %w", s.Addr(), err)
	}
	s.state = stateStopped
	return nil
}

// Kill kills the server with SIGKILL, like a crash, and returns once it is
// gone (connections to it are then refused). Its directory or container
// stays: Restart starts it again on the same port. Killing a server that is
// not running does nothing. For containers, the Docker call is bounded by
// DefaultDockerTimeout.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state.stopped():
		return ErrStopped
	case s.state == stateNew:
		return ErrNotRunning
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDockerTimeout)
	defer cancel()
	err := s.b.kill(ctx)
	s.state = stateDown
	if err != nil {
		return fmt.Errorf("redisserver: kill %s: %w", s.Addr(), err)
	}
	return nil
}

// Restart stops the server if it runs (SIGTERM, then SIGKILL after
// Options.StopTimeout) and starts it again on the same port, with the same
// configuration and directory, and waits until it is ready. There is no
// persistence, so the data is gone (a cluster node keeps its nodes.conf,
// and so its identity). The configuration file is the one the first start
// wrote, as CONFIG REWRITE may have changed it since: redisserver does not
// write it again, so what a test saved with CONFIG REWRITE survives Restart
// (with both backends). If another process took the port meanwhile,
// Restart fails with an error matching ErrPortInUse and the server stays
// down; Restart may be called again.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state.stopped():
		return ErrStopped
	case s.state == stateNew:
		return ErrNotRunning
	}
	if err := s.b.stop(ctx, s.opts.stopTimeout()); err != nil {
		s.state = stateDown
		return fmt.Errorf("redisserver: restart %s: %w", s.Addr(), err)
	}
	s.state = stateDown
	if err := s.startRun(ctx, "restart", s.Port()); err != nil {
		return err
	}
	s.state = stateRunning
	return nil
}

// Pause freezes the server (SIGSTOP, or docker pause): connections are still
// accepted, by the kernel, but nothing is answered until Resume. Pausing a
// paused server does nothing.
func (s *Server) Pause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == statePaused:
		return nil
	case s.state.stopped():
		return ErrStopped
	case s.state != stateRunning || !s.b.alive():
		return ErrNotRunning
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDockerTimeout)
	defer cancel()
	if err := s.b.pause(ctx); err != nil {
		return fmt.Errorf("redisserver: pause %s: %w", s.Addr(), err)
	}
	s.state = statePaused
	return nil
}

// Resume continues a paused server (SIGCONT, or docker unpause). Resuming a
// server that is not paused does nothing.
func (s *Server) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state == statePaused:
	case s.state.stopped():
		return ErrStopped
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDockerTimeout)
	defer cancel()
	if err := s.b.resume(ctx); err != nil {
		return fmt.Errorf("redisserver: resume %s: %w", s.Addr(), err)
	}
	s.state = stateRunning
	return nil
}

// Running reports whether the server process (or container) is running,
// paused or not.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (s.state == stateRunning || s.state == statePaused) && s.b.alive()
}
