package clusterharness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/justredis/justredis/redisserver"
)

// Start starts a cluster and waits until it is stable (see WaitStable):
// Options.Masters masters sharing the slots evenly, each with
// Options.Replicas replicas. It builds the cluster itself: CLUSTER
// ADDSLOTSRANGE and SET-CONFIG-EPOCH on each master, CLUSTER MEET from the
// first node to every other, CLUSTER REPLICATE on each replica. On error
// nothing is left behind; an error met once nodes had started is a
// *StartError, which keeps the end of their logs. The caller must Stop the
// cluster; in tests, Run does it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		// Stop takes the nodes' logs with them: keep their ends.
		err = c.withLogTails(err)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		return nil, errors.Join(err, c.Stop(cctx))
	}
	return c, nil
}

// Run starts a cluster for the test tb, like Start, and fails the test if
// it cannot. It registers the cluster's Stop with tb.Cleanup before it
// starts anything, so every node is stopped at the end of the test however
// it ends; if the test failed, the end of each node's log is logged too.
// The start is bounded by Options.StartTimeout. Call Run from the test's
// goroutine.
func Run(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	c, err := newCluster(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			c.logTails(tb)
		}
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			tb.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(tb.Context(), c.opts.StartTimeout)
	defer cancel()
	if err := c.start(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

// newCluster validates opts and returns a cluster without nodes.
func newCluster(opts Options) (*Cluster, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	nodeOpts := o.Node
	if nodeOpts.Log != nil {
		// Every node writes it, each from goroutines of its own.
		nodeOpts.Log = &lockedWriter{w: nodeOpts.Log}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cluster{opts: o, nodeOpts: nodeOpts, migrations: map[int]*Migration{}, turn: make(chan struct{}, 1), ctx: ctx, cancel: cancel}, nil
}

// logTails logs the end of every node's log.
func (c *Cluster) logTails(tb testing.TB) {
	tb.Helper()
	c.mu.Lock()
	nodes := append([]*Node(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		tb.Logf("clusterharness: node %s (%s): log (last lines):\n\t%s", n.Addr(), n.id, strings.ReplaceAll(logTail(n), "\n", "\n\t"))
	}
	if m := c.Mended(); len(m) > 0 {
		tb.Logf("clusterharness: mended (a master without slots every other node gave it):\n\t%s", strings.Join(m, "\n\t"))
	}
}

// withLogTails returns err as a *StartError carrying the end of the log of
// every node started so far, or err itself when there is none.
func (c *Cluster) withLogTails(err error) error {
	c.mu.Lock()
	nodes := append([]*Node(nil), c.nodes...)
	c.mu.Unlock()
	if len(nodes) == 0 {
		return err
	}
	tails := make(map[string]string, len(nodes))
	for _, n := range nodes {
		tails[n.Addr()] = logTail(n)
	}
	return &StartError{Err: err, LogTails: tails}
}

// logTail returns the last logTailLines lines of n's log.
func logTail(n *Node) string {
	lines := strings.Split(strings.TrimRight(n.srv.Logs(), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}

// start creates the network (containers), starts the nodes and builds the
// cluster.
func (c *Cluster) start(ctx context.Context) (err error) {
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end(&err)
	if c.opts.containerBackend() && c.nodeOpts.Container.Network == "" {
		nw, err := redisserver.NewNetwork(ctx)
		if err != nil {
			return fmt.Errorf("clusterharness: %w", err)
		}
		c.mu.Lock()
		stopped := c.stopped
		if !stopped {
			c.network = nw
		}
		c.mu.Unlock()
		if stopped {
			return errors.Join(ErrStopped, nw.Remove(ctx))
		}
		c.nodeOpts.Container.Network = nw.Name()
	}

	total := c.opts.Masters * (1 + c.opts.Replicas)
	nodes := make([]*Node, total)
	errs := make([]error, total)
	var wg sync.WaitGroup
	for i := range total {
		wg.Go(func() { nodes[i], errs[i] = c.startNode(ctx) })
	}
	wg.Wait()
	var started []*Node
	for _, n := range nodes {
		if n != nil {
			started = append(started, n)
		}
	}
	if err := c.adopt(ctx, started...); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	masters, replicas := nodes[:c.opts.Masters], nodes[c.opts.Masters:]
	// Slots, and distinct config epochs (as redis-cli --cluster create
	// does) so that no epoch collision has to be resolved later.
	for i, n := range nodes {
		cmds := [][]any{{"CLUSTER", "SET-CONFIG-EPOCH", i + 1}}
		if i < len(masters) {
			lo := i * SlotCount / len(masters)
			hi := (i+1)*SlotCount/len(masters) - 1
			cmds = append(cmds, []any{"CLUSTER", "ADDSLOTSRANGE", lo, hi})
		}
		if _, err := n.doAll(ctx, cmds...); err != nil {
			return err
		}
	}
	if err := c.meet(ctx, nodes[0], nodes[1:]...); err != nil {
		return err
	}
	if err := waitKnown(ctx, nodes, nodes); err != nil {
		return err
	}
	var expects []expectation
	for j, r := range replicas {
		m := masters[j%len(masters)]
		if _, err := r.do(ctx, "CLUSTER", "REPLICATE", m.id); err != nil {
			return err
		}
		expects = append(expects, expectReplicaOf(r, m))
	}
	for _, m := range masters {
		expects = append(expects, expectMaster(m))
	}
	return c.waitStable(ctx, expects...)
}

// startNode starts one server and reads its node ID.
func (c *Cluster) startNode(ctx context.Context) (*Node, error) {
	srv, err := redisserver.Start(ctx, c.nodeOpts)
	if err != nil {
		return nil, fmt.Errorf("clusterharness: %w", err)
	}
	n := newNode(c, srv, "")
	v, err := n.do(ctx, "CLUSTER", "MYID")
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		return nil, errors.Join(err, srv.Stop(cctx))
	}
	n.id = v.Text()
	return n, nil
}

// meet makes from send CLUSTER MEET to each of to, with its bus port.
func (c *Cluster) meet(ctx context.Context, from *Node, to ...*Node) error {
	cmds := make([][]any, len(to))
	for i, n := range to {
		srv := n.srv
		cmds[i] = []any{"CLUSTER", "MEET", srv.Host(), srv.Port(), srv.Port() + redisserver.ClusterBusPortOffset}
	}
	_, err := from.doAll(ctx, cmds...)
	return err
}

// waitKnown waits until every node of askers knows every node of nodes
// (past the handshake), so that CLUSTER REPLICATE can name them.
func waitKnown(ctx context.Context, askers, nodes []*Node) error {
	return poll(ctx, func(ctx context.Context) []string {
		var problems []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, a := range askers {
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, probeTimeout)
				defer cancel()
				v, err := a.do(pctx, "CLUSTER", "NODES")
				var ps []string
				if err == nil {
					var entries []*entry
					if entries, err = parseClusterNodes(v.Text()); err == nil {
						for _, n := range nodes {
							i := slices.IndexFunc(entries, func(e *entry) bool { return e.id == n.id })
							if i < 0 || entries[i].handshake || entries[i].noaddr {
								ps = append(ps, fmt.Sprintf("%s: does not know %s yet", a.Addr(), n.Addr()))
							}
						}
					}
				}
				if err != nil {
					ps = append(ps, fmt.Sprintf("%s: does not answer: %v", a.Addr(), err))
				}
				mu.Lock()
				problems = append(problems, ps...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return problems
	})
}
