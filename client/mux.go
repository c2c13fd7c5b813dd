package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Mux is the multiplexer: every goroutine's commands share one pipelined
// connection per server. It is safe for concurrent use; make one and keep
// it for the life of the program.
type Mux struct {
	s      *settings
	router Router
	single *Node // the server of a Mux made by New; nil with another Router

	nodesMu sync.Mutex       // guards nodes
	nodes   map[string]*Node // guarded by nodesMu: every server the Mux knows, by address

	psMu  sync.Mutex // guards psHub
	psHub *pubsubHub // guarded by psMu: under a router, the hub of channel and pattern subscriptions

	ctx    context.Context // cancelled by Close: ends background work
	cancel context.CancelFunc
	closed atomic.Bool
	bgMu   sync.Mutex     // orders spawn's Add against Close's Wait
	bg     sync.WaitGroup // background goroutines: dials, connections, subscribers' feeds

	cmds   atomic.Pointer[commandTable] // from COMMAND on first connect, or the static table
	cmdsMu sync.Mutex                   // serialises loading cmds
	dbMu   sync.Mutex                   // guards dbs
	dbs    map[int]*dbCheck             // guarded by dbMu: database numbers checked or being checked
	stats  muxStats

	// Waiter lists of contexts shared by many callers (ctxwait.go).
	waiters   sync.Map     // <-chan struct{} (a context's Done) → *waitLists
	nwaiters  atomic.Int32 // contexts with waiter lists now
	listsMade atomic.Int64 // contexts given waiter lists so far
	sightings [sightSlots]sighting

	hot [hotSlots]hotCommand // command lookups by the name's address (hotcmd.go)
}

// muxStats are the counters behind Stats.
type muxStats struct {
	strayPushes atomic.Int64 // RESP3 push frames nobody owned
	writes      atomic.Int64 // write calls on shared connections
	commands    atomic.Int64 // requests written on shared connections (a transaction counts once)
}

// New returns a Mux for cfg. It checks the configuration but does not
// connect: the first command does, or Ping.
func New(cfg Config) (*Mux, error) {
	m, err := makeMux(cfg)
	if err != nil {
		return nil, err
	}
	m.single = newNode(m, m.s.endpoints)
	m.nodes[m.single.addr()] = m.single
	m.router = singleRouter{m.single}
	return m, nil
}

// makeMux makes a Mux without a router.
func makeMux(cfg Config) (*Mux, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	m := &Mux{s: s, nodes: map[string]*Node{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Close closes the connections. Commands waiting for a reply, or queued,
// fail with an error matching ErrClosed (NotExecuted tells which never left);
// commands issued after Close fail at once. Close waits for the client's
// goroutines to end and is safe to call more than once.
func (m *Mux) Close() error {
	m.bgMu.Lock()
	already := m.closed.Swap(true)
	m.bgMu.Unlock()
	if already {
		return nil
	}
	m.cancel()
	if m.router != nil {
		m.router.Close()
	}
	m.psMu.Lock()
	if m.psHub != nil {
		m.psHub.close()
	}
	m.psMu.Unlock()
	nodes := m.Nodes()
	for _, n := range nodes {
		n.close()
	}
	m.bg.Wait()
	for _, n := range nodes {
		n.failReplays(ErrClosed)
	}
	m.closeWaitLists()
	return nil
}

// spawn runs f on a background goroutine that Close waits for; it reports
// false (and does not run f) once the Mux is closed.
func (m *Mux) spawn(f func()) bool {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.closed.Load() {
		return false
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		f()
	}()
	return true
}

// Database returns a handle that runs commands in database n, with the
// Mux's default options. It is cheap (no allocation) and safe to copy.
func (m *Mux) Database(n int) Database {
	return Database{m: m, db: n, retries: m.s.retries}
}

// Ping checks that a connection can be made and the server answers.
func (m *Mux) Ping(ctx context.Context) error {
	_, err := m.Database(0).Do(ctx, "PING")
	return err
}

// Stats are counters for monitoring and tests.
type Stats struct {
	StrayPushes int64 // RESP3 push frames that arrived on a shared connection for nobody
	Writes      int64 // write system calls on shared connections
	Commands    int64 // requests written on shared connections (a transaction counts once)
}

// Stats returns the client's counters. Commands/Writes is the average batch:
// how many requests each write carried.
func (m *Mux) Stats() Stats {
	return Stats{
		StrayPushes: m.stats.strayPushes.Load(),
		Writes:      m.stats.writes.Load(),
		Commands:    m.stats.commands.Load(),
	}
}

// afterConnect runs on every new connection before it is shared: on the
// first one, it loads the command table.
func (m *Mux) afterConnect(ctx context.Context, rc *rawConn) error {
	if m.cmds.Load() != nil {
		return nil
	}
	m.cmdsMu.Lock()
	defer m.cmdsMu.Unlock()
	if m.cmds.Load() != nil {
		return nil
	}
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(m.s.connectTimeout)
	}
	if err := armDeadline(ctx, rc.nc, d); err != nil {
		return err
	}
	defer rc.nc.SetDeadline(time.Time{})
	v, err := roundTrip(rc, []string{"COMMAND"})
	if err != nil {
		return err
	}
	t, ok := parseCommandTable(v)
	if !ok {
		t = staticCommands // refused (ACL, renamed): fall back
	}
	m.cmds.Store(&t)
	return nil
}

// commands returns the command table, or the static one before the first
// connection.
func (m *Mux) commands() commandTable { return tableOf(m.cmds.Load()) }

// CommandInfo returns what the client knows of a command (and, for a
// container command such as CLIENT, of its subcommand sub; "" for none), or
// nil when it does not know it.
func (m *Mux) CommandInfo(name, sub string) *CommandInfo {
	return m.commands().lookup(name, sub)
}
