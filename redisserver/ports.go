package redisserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
)

// Redis has no "port 0", so we choose ports: ask the kernel for a free one
// (listen on port 0 and close), and remember the ports our live servers hold
// so that parallel starts in this process never get the same one. Another
// process can still take a port between our check and redis-server's bind;
// the start then fails with ErrPortInUse and Start tries another port.

// reservedPorts are the ports (bus ports included) held by this process's
// servers, from the choice until Stop.
var reservedPorts = struct {
	sync.Mutex
	m map[int]bool // guarded by the mutex
}{m: map[int]bool{}}

// maxPortPicks bounds the search for a free port (and bus port).
const maxPortPicks = 200

// pickPort reserves a free port on host (and, with cluster, the bus port
// ClusterBusPortOffset above it) and returns it.
func pickPort(host string, cluster bool) (int, error) {
	var lastErr error
	for range maxPortPicks {
		port, err := freePort(host)
		if err != nil {
			lastErr = err
			continue
		}
		if cluster {
			bus := port + ClusterBusPortOffset
			if bus > 65535 {
				continue
			}
			if err := probePort(host, bus); err != nil {
				lastErr = err
				continue
			}
		}
		if reservePort(port, cluster) {
			return port, nil
		}
	}
	if lastErr == nil {
		lastErr = errors.New("every candidate was taken")
	}
	return 0, fmt.Errorf("redisserver: no free port on %s: %w", host, lastErr)
}

// reservePort records port (and its bus port) as ours, unless one of them
// already is.
func reservePort(port int, cluster bool) bool {
	reservedPorts.Lock()
	defer reservedPorts.Unlock()
	bus := port + ClusterBusPortOffset
	// A cluster node's bus port must not be another server's port either,
	// hence the check of both in both directions.
	if reservedPorts.m[port] || (cluster && reservedPorts.m[bus]) {
		return false
	}
	reservedPorts.m[port] = true
	if cluster {
		reservedPorts.m[bus] = true
	}
	return true
}

// releasePort forgets a reservation made by pickPort or reservePort.
func releasePort(port int, cluster bool) {
	reservedPorts.Lock()
	defer reservedPorts.Unlock()
	delete(reservedPorts.m, port)
	if cluster {
		delete(reservedPorts.m, port+ClusterBusPortOffset)
	}
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// probePort checks that port is free on host right now.
func probePort(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
