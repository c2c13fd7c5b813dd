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
			deployment: deployment{mode: mode, addrs: []string{srv.Addr()}, pids: pidsOf(srv)},
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
		servers := make([]*redisserver.Server, len(masters))
		for i, m := range masters {
			addrs[i], servers[i] = m.Addr(), m.Server()
		}
		return &runningDeployment{
			deployment: deployment{mode: mode, addrs: addrs, pids: pidsOf(servers...)},
			stop:       c.Stop,
			do:         masters[0].Server().Do,
		}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", mode)
}

// pidsOf returns the servers' process IDs, or nil if one has none (a
// container).
func pidsOf(servers ...*redisserver.Server) []int {
	pids := make([]int, len(servers))
	for i, s := range servers {
		if pids[i] = s.PID(); pids[i] == 0 {
			return nil
		}
	}
	return pids
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
