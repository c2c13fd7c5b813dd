package main

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"runtime/debug"

	"github.com/mediocregopher/radix/v4"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/cluster"
)

// A deployment is where the clients connect: one server or a cluster.
type deployment struct {
	mode  string   // modeSingle or modeCluster
	addrs []string // the server, or every master of the cluster
	pids  []int    // their processes, for their CPU time (none for containers)
}

// A driver is one client library connected to a deployment, sized for a
// number of goroutines.
type driver interface {
	// session returns the state of one goroutine that sets and gets key
	// with values val.
	session(key, val string) session
	// Close releases the client's connections.
	Close() error
}

// A session is one goroutine's share of the workload; its methods are what
// the measuring loop calls, one command each. Everything a call needs is
// prepared in the session, so the loop itself allocates nothing and the
// allocations counted are the client's.
type session interface {
	set(ctx context.Context) error // SET key val
	get(ctx context.Context) error // GET key, checking the value's length
}

// batcher is implemented by drivers that can say how many commands each
// write system call carried (our client's Mux.Stats).
type batcher interface {
	batchStats() (commands, writes int64)
}

// clientSpec describes one client under test.
type clientSpec struct {
	name   string // the -clients name
	module string // its Go module, for the version in the report
	dial   func(ctx context.Context, cfg *config, d deployment, conc int) (driver, error)
	// config says how it is configured, for the report.
	config func(cfg *config) string
}

// ours is the name of our client in -clients and the report.
const ours = "justredis"

// clients lists the clients under test; ours first.
var clients = []clientSpec{
	{
		name:   ours,
		module: "github.com/justredis/justredis/client",
		dial:   dialJustredis,
		config: func(*config) string {
			return "defaults: one auto-pipelined connection per server"
		},
	},
	{
		name:   "goredis",
		module: "github.com/redis/go-redis/v9",
		dial:   dialGoredis,
		config: func(cfg *config) string {
			return "defaults: PoolSize per node " + goredisPoolRule(cfg) + "; one command per connection at a time"
		},
	},
	{
		name:   "rueidis",
		module: "github.com/redis/rueidis",
		dial:   dialRueidis,
		config: func(*config) string {
			// rueidis's default PipelineMultiplex: 2^min(log2(GOMAXPROCS), 2)
			// connections to a single server, 1 per cluster node.
			n := 1 << min(bits.Len(uint(runtime.GOMAXPROCS(0)))-1, 2)
			return fmt.Sprintf("defaults: auto-pipelining on %d connection(s) to a single server, 1 per cluster node", n)
		},
	},
	{
		name:   "radix",
		module: "github.com/mediocregopher/radix/v4",
		dial:   dialRadix,
		config: func(*config) string {
			return "defaults: Pool (cluster: one Pool per node) of 4 connections with implicit pipelining"
		},
	},
}

// clientNames returns the names of all clients, ours first.
func clientNames() []string {
	names := make([]string, len(clients))
	for i, c := range clients {
		names[i] = c.name
	}
	return names
}

// clientByName returns the spec of a client named in -clients.
func clientByName(name string) clientSpec {
	for _, c := range clients {
		if c.name == name {
			return c
		}
	}
	panic("bench: unknown client " + name) // parseFlags checked the names
}

// moduleVersion returns the version of a module linked into this program,
// or "" when the build carries no such information.
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Version == "(devel)" || (m.Replace != nil && m.Replace.Version == "") {
				return "(this tree)"
			}
			return m.Version
		}
	}
	return ""
}

// errValue is the error of a GET whose value is not the one that was set.
var errValue = errors.New("bench: GET returned a value of the wrong length")

func checkLen(got string, want int) error {
	if len(got) != want {
		return fmt.Errorf("%w: %d bytes, want %d", errValue, len(got), want)
	}
	return nil
}

// --- justredis ---

type jrDriver struct {
	m  *client.Mux
	db client.Database
}

func dialJustredis(ctx context.Context, _ *config, d deployment, _ int) (driver, error) {
	cfg := client.Config{Endpoints: d.addrs}
	var m *client.Mux
	var err error
	if d.mode == modeCluster {
		m, err = cluster.New(cfg)
	} else {
		m, err = client.New(cfg)
	}
	if err != nil {
		return nil, err
	}
	if err := m.Ping(ctx); err != nil {
		_ = m.Close()
		return nil, err
	}
	return &jrDriver{m: m, db: m.Database(0)}, nil
}

func (d *jrDriver) session(key, val string) session {
	// The arguments are boxed once here: Do's ...any would otherwise
	// allocate for each string converted to an interface on every call.
	return &jrSession{db: d.db, setArgs: []any{"SET", key, val}, getArgs: []any{"GET", key}, size: len(val)}
}

func (d *jrDriver) Close() error { return d.m.Close() }

func (d *jrDriver) batchStats() (int64, int64) {
	s := d.m.Stats()
	return s.Commands, s.Writes
}

type jrSession struct {
	db      client.Database
	setArgs []any
	getArgs []any
	size    int
}

func (s *jrSession) set(ctx context.Context) error {
	_, err := s.db.Do(ctx, s.setArgs...)
	return err
}

func (s *jrSession) get(ctx context.Context) error {
	v, err := s.db.Do(ctx, s.getArgs...)
	if err != nil {
		return err
	}
	return checkLen(v.Str, s.size)
}

// --- go-redis ---

// goredisPool is go-redis's PoolSize: -goredis-pool, else 0, which means
// go-redis's default of 10 connections per GOMAXPROCS. go-redis runs one
// command per connection at a time, so goroutines beyond the pool wait for
// a connection; we tried sizing the pool to the goroutines instead
// (max(goroutines, 10)), and on 2 cores 2048 connections made go-redis 3-4
// times slower at 2048 goroutines than its default 20, so the default is
// both its documented configuration and its faster one here.
func goredisPool(cfg *config) int {
	return cfg.goredisPool
}

// goredisPoolRule describes goredisPool for the report.
func goredisPoolRule(cfg *config) string {
	if cfg.goredisPool > 0 {
		return fmt.Sprintf("%d (-goredis-pool)", cfg.goredisPool)
	}
	return fmt.Sprintf("default, 10 x GOMAXPROCS = %d", 10*runtime.GOMAXPROCS(0))
}

type grDriver struct {
	c goredis.UniversalClient
}

func dialGoredis(ctx context.Context, cfg *config, d deployment, _ int) (driver, error) {
	pool := goredisPool(cfg)
	var c goredis.UniversalClient
	if d.mode == modeCluster {
		c = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: d.addrs, PoolSize: pool})
	} else {
		c = goredis.NewClient(&goredis.Options{Addr: d.addrs[0], PoolSize: pool})
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &grDriver{c: c}, nil
}

func (d *grDriver) session(key, val string) session {
	return &grSession{c: d.c, key: key, val: val, size: len(val)}
}

func (d *grDriver) Close() error { return d.c.Close() }

type grSession struct {
	c    goredis.UniversalClient
	key  string
	val  any // boxed once
	size int
}

func (s *grSession) set(ctx context.Context) error {
	return s.c.Set(ctx, s.key, s.val, 0).Err()
}

func (s *grSession) get(ctx context.Context) error {
	v, err := s.c.Get(ctx, s.key).Result()
	if err != nil {
		return err
	}
	return checkLen(v, s.size)
}

// --- rueidis ---

type rdDriver struct {
	c rueidis.Client
}

func dialRueidis(ctx context.Context, _ *config, d deployment, _ int) (driver, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       d.addrs,
		ForceSingleClient: d.mode == modeSingle, // what it would guess; saves a CLUSTER SLOTS probe
	})
	if err != nil {
		return nil, err
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		c.Close()
		return nil, err
	}
	return &rdDriver{c: c}, nil
}

func (d *rdDriver) session(key, val string) session {
	return &rdSession{c: d.c, key: key, val: val, size: len(val)}
}

func (d *rdDriver) Close() error {
	d.c.Close()
	return nil
}

type rdSession struct {
	c    rueidis.Client
	key  string
	val  string
	size int
}

func (s *rdSession) set(ctx context.Context) error {
	return s.c.Do(ctx, s.c.B().Set().Key(s.key).Value(s.val).Build()).Error()
}

func (s *rdSession) get(ctx context.Context) error {
	v, err := s.c.Do(ctx, s.c.B().Get().Key(s.key).Build()).ToString()
	if err != nil {
		return err
	}
	return checkLen(v, s.size)
}

// --- radix v4 ---

// radixClient is what radix's Pool and Cluster have in common.
type radixClient interface {
	Do(ctx context.Context, a radix.Action) error
	Close() error
}

type rxDriver struct {
	c radixClient
}

func dialRadix(ctx context.Context, _ *config, d deployment, _ int) (driver, error) {
	var c radixClient
	if d.mode == modeCluster {
		cl, err := radix.ClusterConfig{}.New(ctx, d.addrs)
		if err != nil {
			return nil, err
		}
		c = cl
	} else {
		p, err := radix.PoolConfig{}.New(ctx, "tcp", d.addrs[0])
		if err != nil {
			return nil, err
		}
		c = p
	}
	if err := c.Do(ctx, radix.Cmd(nil, "PING")); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &rxDriver{c: c}, nil
}

func (d *rxDriver) session(key, val string) session {
	return &rxSession{c: d.c, key: key, val: val, size: len(val)}
}

func (d *rxDriver) Close() error { return d.c.Close() }

type rxSession struct {
	c    radixClient
	key  string
	val  string
	got  string // GET's destination, kept here so that it does not escape per call
	size int
}

func (s *rxSession) set(ctx context.Context) error {
	return s.c.Do(ctx, radix.Cmd(nil, "SET", s.key, s.val))
}

func (s *rxSession) get(ctx context.Context) error {
	if err := s.c.Do(ctx, radix.Cmd(&s.got, "GET", s.key)); err != nil {
		return err
	}
	return checkLen(s.got, s.size)
}
