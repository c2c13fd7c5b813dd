package redisserver

import (
	"context"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// Network is a user-defined Docker bridge network for container servers
// (ContainerOptions.Network). Servers on it publish their ports on its
// gateway address, which the test process reaches directly (the host's own
// address on the bridge), and can be cut off from it with
// Server.DisconnectNetwork.
type Network struct {
	net *testcontainers.DockerNetwork
}

// NewNetwork creates a network with a random name, labelled like
// redisserver's containers so that ReapOrphans removes it should this
// process die before Remove.
func NewNetwork(ctx context.Context) (*Network, error) {
	if _, err := acquireDocker(ctx); err != nil {
		return nil, err
	}
	n, err := tcnetwork.New(ctx, tcnetwork.WithLabels(ownerLabels("network")))
	if err != nil {
		releaseDocker()
		return nil, fmt.Errorf("redisserver: create network: %w", err)
	}
	return &Network{net: n}, nil
}

// Name returns the network's name, for ContainerOptions.Network.
func (n *Network) Name() string { return n.net.Name }

// ID returns the network's Docker ID.
func (n *Network) ID() string { return n.net.ID }

// Remove removes the network. Its containers must be stopped first. Like
// Server.Stop, it is not cut short by ctx: the removal runs under a context
// of its own, bounded by DefaultDockerTimeout. If it fails, Remove may be
// called again; removing a removed network does nothing.
func (n *Network) Remove(ctx context.Context) error {
	if n.net == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultDockerTimeout)
	defer cancel()
	err := n.net.Remove(rctx)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("redisserver: remove network %s: %w", n.net.Name, err)
	}
	n.net = nil
	releaseDocker()
	return nil
}
