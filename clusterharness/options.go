package clusterharness

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/justredis/justredis/redisserver"
)

// Defaults used where an Options field is zero.
const (
	// DefaultMasters is the number of masters of a cluster.
	DefaultMasters = 3
	// DefaultReplicas is the number of replicas of each master.
	DefaultReplicas = 1
	// DefaultNodeTimeout is the nodes' cluster-node-timeout: short, so that
	// a killed master is failed over in a few seconds. Redis's own default
	// is 15 seconds.
	DefaultNodeTimeout = 1000 * time.Millisecond
	// MaxNodes is the most nodes (masters and their replicas) a cluster
	// may have: Redis's own advice is a thousand at most, and more
	// processes than that on one test machine is a mistake in the options.
	MaxNodes = 1000
	// DefaultStartTimeout bounds Run's start: the nodes, the cluster's
	// creation and the wait until it is stable. Start is bounded by its
	// context only.
	DefaultStartTimeout = 2 * time.Minute
)

// Timings of the harness's own calls.
const (
	// pollInterval is the period of the stability checks.
	pollInterval = 50 * time.Millisecond
	// probeTimeout bounds one node's answer to one stability check: a node
	// that hangs longer is reported as not answering.
	probeTimeout = 2 * time.Second
	// callTimeout bounds one administration call (a pipeline of commands on
	// one connection) when the caller's context allows more.
	callTimeout = 30 * time.Second
	// cleanupTimeout bounds the Stop that Run registers, and the cleanup
	// after a failed Start.
	cleanupTimeout = 60 * time.Second
	// migrateBatch is how many keys one MIGRATE moves.
	migrateBatch = 100
	// migrateTimeout is MIGRATE's own timeout, in milliseconds.
	migrateTimeout = 10000
	// logTailLines is how many lines of each node's log Run shows when a
	// test fails.
	logTailLines = 15
)

// Options describe a cluster. The zero value is three masters with one
// replica each, from the local redis-server binary (or the backend named by
// $REDISSERVER_BACKEND), with a one-second node timeout.
type Options struct {
	// Masters is the number of masters the slots are spread over; zero
	// means DefaultMasters.
	Masters int
	// Replicas is the number of replicas of each master: zero means
	// DefaultReplicas, a negative value means none.
	Replicas int
	// NodeTimeout is every node's cluster-node-timeout, which decides how
	// fast a dead master is failed over; zero means DefaultNodeTimeout.
	NodeTimeout time.Duration
	// Node is the template every node is started with (redisserver.Start):
	// the backend, binary, password, log, extra configuration lines and so
	// on. Cluster mode is forced on. Port must be zero: every node gets a
	// free port of its own. For the container backend, an empty
	// Container.Network means a Docker network created for the cluster
	// (and removed by Stop), which Partition needs.
	//
	// The harness adds these configuration lines before Node.Config, which
	// can override them: cluster-node-timeout (NodeTimeout),
	// cluster-replica-validity-factor 0 (a replica can always be promoted,
	// however long it was cut off) and cluster-allow-replica-migration no
	// (replicas stay with their master, so the topology changes only with
	// the operations). Node.Password is also the masterauth of every node
	// and the AUTH of MIGRATE.
	//
	// Node.Log, when set, receives the log lines of every node, nodes added
	// later included, until Stop returns. The harness lets one Write
	// through at a time, so a bytes.Buffer will do if it is read only once
	// Stop has returned and is given to no other cluster or server;
	// otherwise the writer must be safe for concurrent use.
	Node redisserver.Options
	// StartTimeout bounds Run's start; zero means DefaultStartTimeout.
	StartTimeout time.Duration
}

// withDefaults validates o and returns it with its defaults applied.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Masters < 0 || o.Masters > min(SlotCount, MaxNodes):
		return o, fmt.Errorf("%w: Masters %d is not in 0-%d", ErrInvalidOptions, o.Masters, min(SlotCount, MaxNodes))
	case o.NodeTimeout < 0 || o.StartTimeout < 0:
		return o, fmt.Errorf("%w: negative timeout", ErrInvalidOptions)
	case o.NodeTimeout > 0 && o.NodeTimeout < time.Millisecond:
		return o, fmt.Errorf("%w: NodeTimeout %v is under a millisecond", ErrInvalidOptions, o.NodeTimeout)
	case o.Node.Port != 0:
		return o, fmt.Errorf("%w: Node.Port must be zero (each node gets a port of its own)", ErrInvalidOptions)
	}
	if o.Masters == 0 {
		o.Masters = DefaultMasters
	}
	switch {
	case o.Replicas == 0:
		o.Replicas = DefaultReplicas
	case o.Replicas < 0:
		o.Replicas = 0
	}
	if o.Replicas >= MaxNodes || o.Masters*(1+o.Replicas) > MaxNodes { // the first test keeps the product from overflowing
		return o, fmt.Errorf("%w: %d masters with %d replicas each is over MaxNodes (%d)", ErrInvalidOptions, o.Masters, o.Replicas, MaxNodes)
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = DefaultNodeTimeout
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	o.Node.Cluster = true
	o.Node.Config = slices.Concat([]string{
		"cluster-node-timeout " + strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
		"cluster-replica-validity-factor 0",
		"cluster-allow-replica-migration no",
	}, o.Node.Config)
	o.Node.Args = slices.Clone(o.Node.Args)
	o.Node.Users = slices.Clone(o.Node.Users)
	return o, nil
}

// containerBackend reports whether the nodes run in containers, resolving
// BackendAuto the way redisserver does.
func (o *Options) containerBackend() bool {
	switch o.Node.Backend {
	case redisserver.BackendContainer:
		return true
	case redisserver.BackendAuto:
		v := strings.TrimSpace(os.Getenv(redisserver.BackendEnv))
		return v == "container" || v == "docker"
	}
	return false
}

// authArgs returns the AUTH command for the harness's connections (and
// MIGRATE's AUTH/AUTH2 arguments are derived from it), or nil.
func authArgs(o *redisserver.Options) []any {
	if o.AdminUser != "" && o.AdminUser != "default" {
		for _, u := range o.Users {
			if u.Name == o.AdminUser {
				return []any{"AUTH", u.Name, u.Password}
			}
		}
	}
	if o.Password != "" {
		return []any{"AUTH", o.Password}
	}
	return nil
}
