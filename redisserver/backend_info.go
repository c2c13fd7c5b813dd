package redisserver

import (
	"context"
	"fmt"
)

// PID returns the process ID of a running binary-backend server, or 0 (when
// it is not running, or for a container).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.b.(*binaryBackend); ok {
		return b.pid()
	}
	return 0
}

// Dir returns the binary-backend server's private directory, which holds its
// redis.conf, nodes.conf and unix socket; "" for a container.
func (s *Server) Dir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.b.(*binaryBackend); ok {
		return b.directory()
	}
	return ""
}

// UnixSocket returns the path of the server's unix socket on this host, or ""
// unless Options.UnixSocket was set.
func (s *Server) UnixSocket() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch b := s.b.(type) {
	case *binaryBackend:
		return b.unixSocket()
	case *containerBackend:
		if b.sockDir != "" {
			return b.sockDir + "/redis.sock"
		}
	}
	return ""
}

// ContainerID returns the Docker ID of a container-backend server's
// container, or "".
func (s *Server) ContainerID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.b.(*containerBackend); ok && b.ctr != nil {
		return b.ctr.GetContainerID()
	}
	return ""
}

// Network returns the name of the Docker network of a container-backend
// server, or "".
func (s *Server) Network() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.b.(*containerBackend); ok {
		return b.network
	}
	return ""
}

// DisconnectNetwork cuts a container-backend server off its network, a
// network partition: its published ports go away (connections from the test
// process and from other containers fail) and it cannot reach anyone,
// while the process keeps running. ConnectNetwork undoes it. The binary
// backend returns ErrNotSupported.
func (s *Server) DisconnectNetwork(ctx context.Context) error {
	return s.setConnected(ctx, false)
}

// ConnectNetwork reconnects a server cut off by DisconnectNetwork; Docker
// publishes its ports again, on the same address.
func (s *Server) ConnectNetwork(ctx context.Context) error {
	return s.setConnected(ctx, true)
}

func (s *Server) setConnected(ctx context.Context, connected bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.b.(*containerBackend)
	if !ok {
		return fmt.Errorf("%w: network disconnection needs the container backend", ErrNotSupported)
	}
	switch {
	case s.state.stopped():
		return ErrStopped
	case b.ctr == nil:
		return ErrNotRunning
	}
	if err := b.setConnected(ctx, connected); err != nil {
		op := "disconnect"
		if connected {
			op = "connect"
		}
		return fmt.Errorf("redisserver: %s %s from network %s: %w", op, s.Addr(), b.network, err)
	}
	return nil
}
