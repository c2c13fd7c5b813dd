package redisserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// RyukDisabledEnv is the testcontainers-go setting that turns off Ryuk, its
// reaper container. Ryuk needs its own image, which cannot be pulled on
// machines without a registry, so redisserver sets it to "true" (unless it
// is already set) before testcontainers-go reads its configuration, and
// cleans up after itself instead: see ReapOrphans.
const RyukDisabledEnv = "TESTCONTAINERS_RYUK_DISABLED"

var ryukOnce sync.Once

// disableRyuk sets RyukDisabledEnv unless the user did. testcontainers-go
// reads its configuration once per process, so this must run before its
// first use.
func disableRyuk() {
	ryukOnce.Do(func() {
		if _, ok := os.LookupEnv(RyukDisabledEnv); !ok {
			_ = os.Setenv(RyukDisabledEnv, "true")
		}
	})
}

// dockerState is the process's Docker client, shared by every container
// server and network. Its idle connections are closed whenever the last user
// lets go of it, so that a test binary whose servers are all stopped has no
// connection goroutines left.
var dockerState struct {
	mu     sync.Mutex
	cli    *testcontainers.DockerClient // guarded by mu; created on first use
	refs   int                          // guarded by mu: users holding cli
	reaped bool                         // guarded by mu: the automatic reap ran (see acquireDocker)
}

// acquireDocker returns the shared client, checking that the engine answers.
// The first call in a process also reaps orphans, ignoring what it cannot
// remove; its errors are ErrDockerUnavailable's. Call releaseDocker after.
func acquireDocker(ctx context.Context) (*testcontainers.DockerClient, error) {
	dockerState.mu.Lock()
	cli := dockerState.cli
	if cli == nil {
		disableRyuk()
		var err error
		if cli, err = testcontainers.NewDockerClientWithOpts(ctx); err != nil {
			dockerState.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", ErrDockerUnavailable, err)
		}
		dockerState.cli = cli
	}
	dockerState.refs++
	reap := !dockerState.reaped
	dockerState.reaped = true
	dockerState.mu.Unlock()

	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		releaseDocker()
		if reap {
			dockerState.mu.Lock()
			dockerState.reaped = false
			dockerState.mu.Unlock()
		}
		return nil, fmt.Errorf("%w: %w", ErrDockerUnavailable, err)
	}
	if reap {
		// Best effort: an orphan that cannot be removed (a network that a
		// live container still uses, a removal the engine refuses) must
		// not fail this process's use of Docker. ReapOrphans reports it.
		_, _ = reapOrphans(ctx, cli)
	}
	return cli, nil
}

// releaseDocker lets go of the client acquireDocker returned.
func releaseDocker() {
	dockerState.mu.Lock()
	defer dockerState.mu.Unlock()
	dockerState.refs--
	if dockerState.refs == 0 && dockerState.cli != nil {
		_ = dockerState.cli.Close() // closes idle connections only
	}
}

// CheckDocker reports whether a Docker engine answers (as testcontainers-go
// finds it: $DOCKER_HOST, Docker contexts, the default socket). The error
// matches ErrDockerUnavailable. Tests of the container backend can skip
// when it fails.
func CheckDocker(ctx context.Context) error {
	if _, err := acquireDocker(ctx); err != nil {
		return err
	}
	releaseDocker()
	return nil
}

// networkGateway returns the name of the network a container attaches to
// (Docker's default bridge when name is empty) and its gateway address: the
// host's address on that network, where redisserver publishes ports, so
// that the test process and the other containers reach them alike.
func networkGateway(ctx context.Context, cli *testcontainers.DockerClient, name string) (string, string, error) {
	if name == "" {
		name = "bridge"
	}
	res, err := cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return "", "", fmt.Errorf("redisserver: network %s: %w", name, err)
	}
	nw := res.Network
	var subnets []netip.Prefix
	for _, c := range nw.IPAM.Config {
		if c.Gateway.Is4() {
			return nw.Name, c.Gateway.String(), nil
		}
		if c.Subnet.Addr().Is4() {
			subnets = append(subnets, c.Subnet)
		}
	}
	// Docker's default bridge does not list its gateway: it is the address
	// of the bridge interface (docker0) in the subnet, by default the
	// subnet's first address.
	if br := nw.Options["com.docker.network.bridge.name"]; br != "" {
		if ip, ok := interfaceAddrIn(br, subnets); ok {
			return nw.Name, ip, nil
		}
	}
	if len(subnets) > 0 {
		return nw.Name, subnets[0].Masked().Addr().Next().String(), nil
	}
	return "", "", fmt.Errorf("redisserver: network %s has no IPv4 gateway", name)
}

// interfaceAddrIn returns the address of the named interface that lies in
// one of subnets.
func interfaceAddrIn(name string, subnets []netip.Prefix) (string, bool) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return "", false
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return "", false
	}
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipnet.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		for _, sn := range subnets {
			if sn.Contains(ip) {
				return ip.String(), true
			}
		}
	}
	return "", false
}
