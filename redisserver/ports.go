package redisserver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Redis has no "port 0", so we choose ports: a random port below the
// kernel's ephemeral range (see ephemeralPortLow) that a listen finds free,
// and we remember the ports our live servers hold so that parallel starts in
// this process never get the same one. Ports below the ephemeral range are
// never handed out as the local port of an outgoing connection, so a killed
// server's port is not taken by some connection (whose TIME_WAIT would then
// block Restart for a minute). Another process can still take a port
// between our check and redis-server's bind; the start then fails with
// ErrPortInUse and Start tries another port.

// reservedPorts are the ports (bus ports included) held by this process's
// servers, from the choice until Stop.
var reservedPorts = struct {
	sync.Mutex
	m map[int]bool // guarded by the mutex
}{m: map[int]bool{}}

const (
	// maxPortPicks bounds the search for a free port (and bus port).
	maxPortPicks = 200
	// minPickedPort is the lowest port pickPort chooses, above the ports of
	// well-known services (which may be down now and start later).
	minPickedPort = 10000
	// minPortWindow is the fewest candidates pickPort wants below the
	// ephemeral range; with fewer, it takes ports from the kernel instead.
	minPortWindow = 1000
	// portRangeFile holds the kernel's ephemeral port range (Linux).
	portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"
)

// ephemeralPortLow returns the lowest port of the kernel's ephemeral range,
// or 0 when it cannot be read (not Linux).
var ephemeralPortLow = sync.OnceValue(func() int {
	b, err := os.ReadFile(portRangeFile)
	if err != nil {
		return 0
	}
	return parsePortRangeLow(string(b))
})

// parsePortRangeLow returns the first port of the text of portRangeFile
// ("32768\t60999\n"), or 0.
func parsePortRangeLow(s string) int {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 0 || low > 65535 {
		return 0
	}
	return low
}

// portWindow returns the ports [lo, hi) pickPort chooses from, given the
// lowest ephemeral port: minPickedPort up to the ephemeral range, which a
// cluster node's bus port (ClusterBusPortOffset above its port) must stay
// below too. ok is false when that leaves fewer than minPortWindow ports
// (or the range is unknown): pickPort then asks the kernel for ports.
func portWindow(ephemeralLow int, cluster bool) (lo, hi int, ok bool) {
	lo, hi = minPickedPort, ephemeralLow
	if cluster {
		hi -= ClusterBusPortOffset
	}
	if ephemeralLow <= 0 || hi-lo < minPortWindow {
		return 0, 0, false
	}
	return lo, hi, true
}

// pickPort reserves a free port on host (and, with cluster, the bus port
// ClusterBusPortOffset above it) and returns it.
func pickPort(host string, cluster bool) (int, error) {
	lo, hi, window := portWindow(ephemeralPortLow(), cluster)
	var lastErr error
	for range maxPortPicks {
		var port int
		var err error
		if window {
			port = lo + rand.IntN(hi-lo)
			err = probePort(host, port)
		} else {
			port, err = freePort(host)
		}
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

// freePort asks the kernel for a free TCP port on host (from its ephemeral
// range).
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
