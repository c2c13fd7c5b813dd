package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
)

// Sentinel errors.
var (
	// ErrCrossSlot: a command (or transaction, script or WATCH) names keys
	// that hash to different slots; nothing was sent. Use hash tags
	// ("{user1}.a", "{user1}.b") to keep keys that go together in one slot.
	// It is client.ErrCrossSlot: the client checks the keys.
	ErrCrossSlot = client.ErrCrossSlot
	// ErrTopology: no node gave a usable view of the cluster.
	ErrTopology = errors.New("cluster: no usable cluster topology")
	// ErrSlotNotServed: the cluster says no node serves the slot (the
	// cluster is down or being reconfigured), as of the last refresh:
	// within minRefreshGap (100ms) of it, a command for such a slot gets
	// this error without another refresh.
	ErrSlotNotServed = errors.New("cluster: no node serves the slot")
)

// Defaults of New's Options.
const (
	// DefaultRefreshInterval: how often the topology is refreshed when
	// nothing else asks for it.
	DefaultRefreshInterval = 30 * time.Second
	// minRefreshGap: refreshes asked for by redirections, failures and
	// commands for a slot without an owner are at least this far apart, so
	// a storm of MOVED replies, or of commands for an unserved slot, costs
	// one.
	minRefreshGap = 100 * time.Millisecond
	// replicaQuarantine: how long ReplicaReads skips a replica after the
	// client reported trouble with it (a failed dial or connection, a
	// CLUSTERDOWN or TRYAGAIN reply: a replica cut off from the majority
	// says CLUSTERDOWN while its master, on the majority's side, serves;
	// when the whole cluster is down, the master's reads fail as the
	// replica's would). The cluster keeps listing a dead
	// replica as online until its cluster-node-timeout passes (15 seconds
	// by default); meanwhile its reads go to another replica or the
	// master. Long enough to cover a command's retries and the refresh
	// that follows; short enough that a replica whose trouble was brief
	// (a cut connection, a restart) serves reads again soon. A replica
	// still dead after it costs one failed attempt, re-routed, and a new
	// quarantine.
	replicaQuarantine = 5 * time.Second
	// queryTimeout bounds one node's answer to a topology query.
	queryTimeout = 2 * time.Second
	// maxQueried: how many nodes a refresh asks at once.
	maxQueried = 5
)

// refreshTimeout bounds one refresh on a client whose Config has
// connectTimeout (zero: client.DefaultConnectTimeout): time for a dial and
// handshake, and then for an answer.
func refreshTimeout(connectTimeout time.Duration) time.Duration {
	if connectTimeout <= 0 {
		connectTimeout = client.DefaultConnectTimeout
	}
	return connectTimeout + queryTimeout
}

// Option configures the cluster router.
type Option func(*options)

type options struct {
	refreshInterval time.Duration
	replicaReads    bool
}

// RefreshInterval sets how often the topology is refreshed when no
// redirection or failure asks for it sooner. Default (and for zero or a
// negative d) DefaultRefreshInterval.
func RefreshInterval(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			d = DefaultRefreshInterval
		}
		o.refreshInterval = d
	}
}

// ReplicaReads lets read-only commands go to replicas (which may lag behind
// their master). Off by default. Only replicas CLUSTER SHARDS reports
// "online" are read from: a "loading" one (replication offset 0: syncing,
// or in a cluster never written to) may serve an empty dataset; a shard
// with none reads from its master. A replica the client had trouble with
// (its connection failed or could not be made, or it replied CLUSTERDOWN
// or TRYAGAIN) is skipped for a few seconds, its reads going to the
// shard's other replicas or its master, since the cluster goes on listing
// a dead replica as online until it marks it failed.
func ReplicaReads() Option { return func(o *options) { o.replicaReads = true } }

// New returns a client for the Redis Cluster that cfg.Endpoints (seed nodes,
// any of them) belong to: the same *client.Mux, Database, Do, Command,
// Multi, Script, PubSub, Watch and Dedicated API as on a single server, with
// one shared connection per node. It does not connect: the first command
// discovers the cluster.
func New(cfg client.Config, opts ...Option) (*client.Mux, error) {
	o := options{refreshInterval: DefaultRefreshInterval}
	for _, opt := range opts {
		opt(&o)
	}
	seeds := cfg.Endpoints
	if len(seeds) == 0 {
		seeds = []string{client.DefaultEndpoint}
	}
	limit := refreshTimeout(cfg.ConnectTimeout)
	tls := cfg.TLS != nil
	return client.NewWithRouter(cfg, func(m *client.Mux) (client.Router, error) {
		r := newRouter(m, seeds, o, limit)
		r.tls = tls
		return r, nil
	})
}

// router routes commands to the node serving their slot. The slot map comes
// from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7), asked of several
// nodes at once, the view most of them agree on winning; it is refreshed
// (one refresh at a time) after MOVED, failures, CLUSTERDOWN and TRYAGAIN,
// and every RefreshInterval. A MOVED updates its slot at once.
//
// A refresh runs on a goroutine of its own (run), under the router's ctx
// and refreshTimeout, never under a caller's ctx: a caller whose ctx ends
// stops waiting for it, and the others still get its result.
type router struct {
	m         *client.Mux
	opts      options
	seeds     []string
	loadLimit time.Duration // immutable: bounds one refresh (refreshTimeout)
	tls       bool          // immutable: Config.TLS is set, so nodes are reached on their TLS ports

	topo atomic.Pointer[topology] // replaced under mu (run, Moved); read by anyone

	// suspects: replicas the client reported trouble with (Trouble), and
	// when; ReplicaReads skips each for replicaQuarantine after that.
	// Copied on write under mu; read by anyone. Nil when empty.
	suspects atomic.Pointer[map[string]time.Time]

	mu          sync.Mutex
	refreshing  *flight       // guarded by mu: the refresh in progress, or nil
	lastRefresh time.Time     // guarded by mu: when the last refresh ended
	lastErr     error         // guarded by mu: the last refresh's error (nil: it succeeded)
	refreshGap  time.Duration // guarded by mu: minRefreshGap (tests change it)
	closed      bool          // guarded by mu: Close has begun; no refresh starts after it

	wake   chan struct{}   // capacity 1: refresh soon
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loop goroutine and the refresh in progress; Close waits for them
}

// flight is one refresh, shared by every caller who asks for a refresh
// while it runs.
type flight struct {
	done chan struct{} // closed by the refresh's goroutine when it ends
	err  error         // written by the refresh's goroutine before done is closed; read only after
}

func newRouter(m *client.Mux, seeds []string, o options, loadLimit time.Duration) *router {
	r := &router{m: m, opts: o, seeds: seeds, loadLimit: loadLimit, refreshGap: minRefreshGap, wake: make(chan struct{}, 1)}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.loop()
	return r
}

// Sharded implements client.Router.
func (r *router) Sharded() bool { return true }

// KeySlot implements client.Router.
func (r *router) KeySlot(key string) int { return Slot(key) }

// Node implements client.Router. Before the first topology, and for a
// slot the view gives no owner, it waits for a refresh (the one in flight,
// or a new one), but starts none within minRefreshGap of the last one: it
// fails at once instead, with the last refresh's error or ErrSlotNotServed.
func (r *router) Node(ctx context.Context, slot int, readOnly bool) (*client.Node, error) {
	t := r.topo.Load()
	if t == nil {
		if _, err := r.refreshSpaced(ctx); err != nil {
			return nil, err
		}
		if t = r.topo.Load(); t == nil {
			return nil, ErrTopology // not reached: a refresh that succeeded stored a view
		}
	}
	var s *shard
	if slot == client.NoSlot {
		if s = anyServing(t.shards); s == nil {
			return nil, ErrTopology
		}
	} else {
		i := t.slots[slot]
		if i < 0 {
			// Perhaps a reconfiguration we have not seen yet.
			recent, err := r.refreshSpaced(ctx)
			if err != nil && !recent {
				return nil, err
			}
			if t = r.topo.Load(); t.slots[slot] < 0 {
				if err != nil {
					return nil, fmt.Errorf("%w: %d (%w)", ErrSlotNotServed, slot, err)
				}
				return nil, fmt.Errorf("%w: %d", ErrSlotNotServed, slot)
			}
			i = t.slots[slot]
		}
		s = t.shards[i]
	}
	if readOnly && r.opts.replicaReads && len(s.replicas) > 0 {
		if addr := r.pickReplica(s.replicas); addr != "" {
			if n := r.m.Node(addr); n != nil {
				n.SetReadOnly()
				return n, nil
			}
		}
	}
	if n := r.m.Node(s.master); n != nil {
		return n, nil
	}
	return nil, client.ErrClosed
}

// anyServing returns one of shards at random: one that serves slots, if
// any does (a master that serves none may be joining the cluster still).
func anyServing(shards []*shard) *shard {
	n := 0
	for _, s := range shards {
		if len(s.ranges) > 0 {
			n++
		}
	}
	if n == 0 {
		if len(shards) == 0 {
			return nil
		}
		return shards[rand.IntN(len(shards))]
	}
	k := rand.IntN(n)
	for _, s := range shards {
		if len(s.ranges) > 0 {
			if k == 0 {
				return s
			}
			k--
		}
	}
	return nil // not reached
}

// Moved implements client.Router: the slot moves at once in the current
// view, and a refresh follows to learn the rest of the change.
func (r *router) Moved(slot int, addr string) {
	if slot < 0 || slot >= SlotCount {
		return
	}
	if t := r.topo.Load(); t != nil {
		if i := t.slots[slot]; i >= 0 && t.shards[i].master == addr {
			// The view knows already (an earlier MOVED or a refresh): no
			// copy. Whoever sent the command there (a replica moved to
			// another shard, say) has a stale view still: refresh.
			r.soon()
			return
		}
	}
	r.mu.Lock()
	if t := r.topo.Load(); t != nil {
		next := &topology{shards: t.shards, slots: t.slots}
		idx := -1
		for i, s := range next.shards {
			if s.master == addr {
				idx = i
				break
			}
		}
		if idx < 0 {
			next.shards = append(next.shards[:len(next.shards):len(next.shards)], &shard{master: addr})
			idx = len(next.shards) - 1
		}
		next.slots[slot] = int16(idx)
		r.topo.Store(next)
	}
	r.mu.Unlock()
	r.soon()
}

// Trouble implements client.Router: a refresh follows, and a replica of
// the current view is a suspect for replicaQuarantine (see ReplicaReads).
func (r *router) Trouble(n *client.Node, _ error) {
	if n != nil && r.opts.replicaReads {
		r.suspect(n.Addr())
	}
	r.soon()
}

// suspect records trouble with addr when the current view lists it as a
// replica, and forgets suspects whose quarantine is over.
func (r *router) suspect(addr string) {
	t := r.topo.Load()
	if t == nil || !t.isReplica(addr) {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneSuspectsLocked(now)
	next := map[string]time.Time{addr: now}
	if old := r.suspects.Load(); old != nil {
		for a, since := range *old {
			if a != addr {
				next[a] = since
			}
		}
	}
	r.suspects.Store(&next)
}

// pruneSuspectsLocked forgets the suspects whose quarantine is over, so
// that reads stop looking them up. r.mu must be held.
func (r *router) pruneSuspectsLocked(now time.Time) {
	old := r.suspects.Load()
	if old == nil {
		return
	}
	next := map[string]time.Time{}
	for a, since := range *old {
		if now.Sub(since) < replicaQuarantine {
			next[a] = since
		}
	}
	if len(next) == len(*old) {
		return
	}
	if len(next) == 0 {
		r.suspects.Store(nil)
		return
	}
	r.suspects.Store(&next)
}

// pickReplica returns one of replicas at random, leaving out those in
// quarantine; "" when all of them are.
func (r *router) pickReplica(replicas []string) string {
	sus := r.suspects.Load()
	if sus == nil {
		return replicas[rand.IntN(len(replicas))]
	}
	now := time.Now()
	ok := func(a string) bool {
		since, found := (*sus)[a]
		return !found || now.Sub(since) >= replicaQuarantine
	}
	n := 0
	for _, a := range replicas {
		if ok(a) {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	k := rand.IntN(n)
	for _, a := range replicas {
		if ok(a) {
			if k == 0 {
				return a
			}
			k--
		}
	}
	return "" // not reached
}

// Close implements client.Router: it ends the refresh in progress, if any
// (its waiters get an error matching client.ErrClosed), and waits for the
// router's goroutines.
func (r *router) Close() {
	r.mu.Lock()
	r.closed = true // from now on refresh starts no goroutine, so wg.Add cannot race wg.Wait
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// soon asks the background loop for a refresh.
func (r *router) soon() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop refreshes every RefreshInterval, and soon after a request.
func (r *router) loop() {
	defer r.wg.Done()
	tick := time.NewTicker(r.opts.refreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		case <-r.wake:
			r.mu.Lock()
			wait := r.refreshGap - time.Since(r.lastRefresh)
			r.mu.Unlock()
			if wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-r.ctx.Done():
					t.Stop()
					return
				}
			}
		}
		_ = r.refresh(r.ctx)
	}
}

// refresh loads the topology, once for everyone who asks meanwhile, and
// returns that refresh's error. The refresh does not run under ctx: ctx
// only bounds this caller's wait, and when it ends first, refresh returns
// its error (wrapped) and the refresh goes on for the others.
func (r *router) refresh(ctx context.Context) error {
	_, err := r.join(ctx, false)
	return err
}

// refreshSpaced is refresh for a command that found the view lacking (no
// view yet, or no owner for its slot): it joins the refresh in flight, if
// any, but starts none when the last one ended less than refreshGap ago,
// so that a stream of such commands costs a refresh per refreshGap, not
// one each. It then returns at once, with recent true: nil when the last
// refresh succeeded, else its error, wrapped.
func (r *router) refreshSpaced(ctx context.Context) (recent bool, err error) {
	return r.join(ctx, true)
}

// join waits for the refresh in flight, starting one if there is none
// (unless spaced and the last one ended less than refreshGap ago: then it
// returns recent true and the last one's error), and returns its error.
func (r *router) join(ctx context.Context, spaced bool) (recent bool, err error) {
	r.mu.Lock()
	f := r.refreshing
	if f == nil {
		if r.closed {
			r.mu.Unlock()
			return false, client.ErrClosed
		}
		if ago := time.Since(r.lastRefresh); spaced && !r.lastRefresh.IsZero() && ago < r.refreshGap {
			err := r.lastErr
			r.mu.Unlock()
			if err != nil {
				return true, fmt.Errorf("cluster: the last topology refresh, %v ago, failed: %w", ago.Round(time.Millisecond), err)
			}
			return true, nil
		}
		f = &flight{done: make(chan struct{})}
		r.refreshing = f
		r.wg.Add(1)
		go r.run(f)
	}
	r.mu.Unlock()
	select {
	case <-f.done:
		return false, f.err
	case <-ctx.Done():
		return false, fmt.Errorf("cluster: waiting for the topology: %w", ctx.Err())
	}
}

// run is the goroutine of the refresh f: it loads the topology under the
// router's ctx (which Close ends) and loadLimit, stores it, and ends f.
func (r *router) run(f *flight) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(r.ctx, r.loadLimit)
	t, err := r.load(ctx)
	cancel()
	if err != nil && r.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", client.ErrClosed, err)
	}
	r.mu.Lock()
	if err == nil {
		r.topo.Store(t)
	}
	f.err = err
	r.lastRefresh, r.lastErr, r.refreshing = time.Now(), err, nil
	r.pruneSuspectsLocked(r.lastRefresh)
	r.mu.Unlock()
	close(f.done)
}

// load asks the nodes it knows (candidates) for their view, up to
// maxQueried at once, and keeps the view most of those that answer share.
// Only when none of them answers does it ask the next maxQueried, until it
// has asked every candidate or ctx ends.
func (r *router) load(ctx context.Context) (*topology, error) {
	var errs []error
	for rest := r.candidates(); len(rest) > 0 && ctx.Err() == nil; {
		batch := rest[:min(len(rest), maxQueried)]
		rest = rest[len(batch):]
		t, batchErrs := r.vote(ctx, batch)
		if t != nil {
			return t, nil
		}
		errs = append(errs, batchErrs...)
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return nil, fmt.Errorf("%w: %w", ErrTopology, errors.Join(errs...))
}

// candidates returns the nodes a refresh may ask, each once, in this
// order of groups, each group shuffled: the current view's masters, then
// its replicas, the ones not yet serving reads included (a master may be
// dead, with a replica promoted in its place), then the seeds.
func (r *router) candidates() []string {
	var out []string
	seen := map[string]bool{}
	group := 0 // where the group being added starts in out
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	// Each group in a random order, so that refreshes spread over the
	// nodes and a batch of dead masters does not stand in front of the
	// same live ones every time.
	shuffle := func() {
		rest := out[group:]
		rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		group = len(out)
	}
	if t := r.topo.Load(); t != nil {
		for _, s := range t.shards {
			add(s.master)
		}
		shuffle()
		for _, s := range t.shards {
			for _, a := range s.replicas {
				add(a)
			}
			for _, a := range s.standby {
				add(a)
			}
		}
		shuffle()
	}
	for _, a := range r.seeds {
		add(a)
	}
	shuffle()
	return out
}

// vote asks every node of addrs at once and returns the view most of
// those that answer share (on a tie, the one covering more slots), or nil
// and every node's error when none answers. It returns as soon as the
// answers still out cannot change the outcome: a node that hangs does not
// hold up a view the others agree on (its query ends with the caller's
// ctx, which the refresh cancels when it is done).
func (r *router) vote(ctx context.Context, addrs []string) (*topology, []error) {
	type answer struct {
		t   *topology
		err error
	}
	answers := make(chan answer, len(addrs))
	for _, addr := range addrs {
		go func() {
			t, err := r.ask(ctx, addr)
			answers <- answer{t, err}
		}()
	}
	votes := map[string]int{}
	views := map[string]*topology{}
	var errs []error
	for out := len(addrs); out > 0; {
		a := <-answers
		out--
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		fp := a.t.fingerprint()
		votes[fp]++
		if v := views[fp]; v != nil {
			v.merge(a.t) // the same view but for replicas still syncing: online only if both say so
		} else {
			views[fp] = a.t
		}
		if best, lead := leader(votes, views); lead > out {
			return best, nil // decided: even every answer still out could not overturn it
		}
	}
	if best, _ := leader(votes, views); best != nil {
		return best, nil
	}
	return nil, errs
}

// leader returns the view with the most votes (on a tie, the one covering
// more slots) and its lead in votes over the next one; nil and 0 when there
// are no votes.
func leader(votes map[string]int, views map[string]*topology) (*topology, int) {
	var best *topology
	bestVotes, second := 0, 0
	for fp, n := range votes {
		t := views[fp]
		if n > bestVotes || (n == bestVotes && t.covered() > best.covered()) {
			best, bestVotes, second = t, n, bestVotes
		} else if n > second {
			second = n
		}
	}
	return best, bestVotes - second
}

// ask gets one node's view: CLUSTER SHARDS, or CLUSTER SLOTS where that is
// unknown.
func (r *router) ask(ctx context.Context, addr string) (*topology, error) {
	n := r.m.Node(addr)
	if n == nil {
		return nil, client.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	v, err := n.Do(ctx, "CLUSTER", "SHARDS")
	if err == nil {
		return parseShards(v, addr, r.tls)
	}
	if resp.ErrorPrefix(err) == "" {
		return nil, err
	}
	v, err = n.Do(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	return parseSlots(v, addr)
}
