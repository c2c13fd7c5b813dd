package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/justredis/justredis/clusterharness"
	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// Bounds of starting and stopping a deployment.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
)

// runningDeployment is a deployment this program started, and how to stop
// it.
type runningDeployment struct {
	deployment
	stop func(ctx context.Context) error
	do   func(ctx context.Context, args ...any) (resp.Value, error) // an admin call to one node
}

// startDeployment starts a private redis-server (modeSingle) or a private
// cluster of three masters without replicas (modeCluster: a replica would
// only spend the two cores on replication), from the binary bin ("" =
// redisserver's default). Neither keeps any data on disk.
func startDeployment(ctx context.Context, mode, bin string) (*runningDeployment, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	node := redisserver.Options{Binary: bin}
	switch mode {
	case modeSingle:
		srv, err := redisserver.Start(ctx, node)
		if err != nil {
			return nil, fmt.Errorf("starting redis-server: %w", err)
		}
		return &runningDeployment{
			deployment: deployment{mode: mode, addrs: []string{srv.Addr()}},
			stop:       srv.Stop,
			do:         srv.Do,
		}, nil
	case modeCluster:
		c, err := clusterharness.Start(ctx, clusterharness.Options{Masters: 3, Replicas: -1, Node: node})
		if err != nil {
			return nil, fmt.Errorf("starting the cluster: %w", err)
		}
		masters := c.Masters()
		addrs := make([]string, len(masters))
		for i, m := range masters {
			addrs[i] = m.Addr()
		}
		return &runningDeployment{
			deployment: deployment{mode: mode, addrs: addrs},
			stop:       c.Stop,
			do:         masters[0].Server().Do,
		}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", mode)
}

// redisVersion returns the server's redis_version, or "?".
func (d *runningDeployment) redisVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := d.do(ctx, "INFO", "server")
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(v.Str, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return s
		}
	}
	return "?"
}
