package clusterharness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// WaitStable waits until the cluster is stable, polling every node, and
// returns nil then, or a *StabilityError (matching ErrNotStable and the
// context's error) that lists the conditions not met at the last check
// when ctx ends. Every operation ends with this wait. The cluster is stable
// when, for every live node (StateUp):
//
//   - it answers, and CLUSTER INFO says cluster_state:ok;
//   - it knows every other live node, at the node's Addr, connected, and
//     flags none of them fail, fail?, handshake or noaddr;
//   - its view of the live nodes (roles, which master each replica follows,
//     the slots of each master) is the same as every other live node's;
//   - a replica's master is live, and INFO replication says
//     master_link_status:up, with that master's address;
//   - it has no slot in the migrating or importing state, except the slots
//     of an open Migration (begun and not finished nor aborted), and it
//     imports such a slot from a live master (a node importing a slot
//     ignores news of its owner: Abort the migration of a source that was
//     killed or failed over);
//
// and every slot is owned by a live master, and no open migration was left
// half-way by a MigrateSlots that failed (call MigrateSlots again to
// resume it, or BeginMigration with the same arguments and then Abort).
// Nodes that are killed, paused or partitioned are not asked, and must own
// no slots: after Kill of a master, the cluster is stable once its replica
// has been promoted. It also refreshes what Masters, Replicas and the Node
// accessors return.
func (c *Cluster) WaitStable(ctx context.Context) (err error) {
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end(&err)
	return c.waitStable(ctx)
}

// expectation is an operation's own condition on a complete check: "" when
// it is met, else what is still missing, naming the node.
type expectation func(v *view) string

// view is one complete check: what every live node answered, and the
// cluster as the first one that answered sees it.
type view struct {
	ref    *probe            // the first live node that answered
	probes []*probe          // every live node's answer, in node order
	names  map[string]string // node ID -> address, for messages
}

// entry returns what the reference node thinks of n, or nil.
func (v *view) entry(n *Node) *entry { return v.ref.byID[n.id] }

// name returns the address of the node with ID id, or a short ID.
func (v *view) name(id string) string {
	if a, ok := v.names[id]; ok {
		return a
	}
	if len(id) > 8 {
		return "node " + id[:8]
	}
	return "node " + id
}

// probe is one node's answer to one check.
type probe struct {
	node    *Node
	err     error
	info    map[string]string // CLUSTER INFO
	byID    map[string]*entry // CLUSTER NODES, by node ID
	self    *entry            // CLUSTER NODES, the myself line
	repl    map[string]string // INFO replication
	entries []*entry          // CLUSTER NODES, in its order
}

// probeNode asks n for CLUSTER INFO, CLUSTER NODES and INFO replication, on
// one connection, bounded by probeTimeout.
func probeNode(ctx context.Context, n *Node) *probe {
	p := &probe{node: n}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	replies, err := n.pipeline(ctx, []any{"CLUSTER", "INFO"}, []any{"CLUSTER", "NODES"}, []any{"INFO", "replication"})
	if err != nil {
		p.err = err
		return p
	}
	for _, r := range replies {
		if r.IsError() {
			p.err = r.Err()
			return p
		}
	}
	p.parse(replies[0].Text(), replies[1].Text(), replies[2].Text())
	return p
}

// parse fills p from the texts of CLUSTER INFO, CLUSTER NODES and INFO
// replication.
func (p *probe) parse(clusterInfo, clusterNodes, replication string) {
	p.info = parseInfo(clusterInfo)
	if p.entries, p.err = parseClusterNodes(clusterNodes); p.err != nil {
		return
	}
	p.repl = parseInfo(replication)
	p.byID = make(map[string]*entry, len(p.entries))
	for _, e := range p.entries {
		p.byID[e.id] = e
		if e.myself {
			p.self = e
		}
	}
	if p.self == nil {
		p.err = fmt.Errorf("CLUSTER NODES has no myself line")
	}
}

// waitStable polls until a check finds no problem, or ctx ends, mending
// on the way the one stuck state Redis 7.0 does not mend (see reclaim).
func (c *Cluster) waitStable(ctx context.Context, expects ...expectation) error {
	return c.wait(ctx, true, expects...)
}

// reclaimAfter is how long a master may go without slots that every other
// node gives it before waitStable gives them to it again.
const reclaimAfter = 2 * time.Second

// wait is waitStable, with the mending (mend) or without it (for tests).
//
// The stuck state: a master's own view lacks slots that every other live
// node believes it owns. Redis 7.0 gets there when a slot's new owner loses
// it to a stale claim (a migration's target; a replica promoted before its
// view of its master's slots caught up), and never leaves it: a node's view
// of its own slots changes only by what it is told directly or by a newer
// claim, and a master that does not claim a slot does not make the others
// drop it (redis/redis#12344, in 7.2, lets another claimant take such a
// slot; there is none). CI runs of TestAddRemoveNode and
// TestWritesSurviveChaos waited their minutes on it. When it lasts
// reclaimAfter, for slots no migration of the harness holds open, wait
// assigns those slots to the master again, on the master, then bumps its
// config epoch so that its claim is the newest, as redis-cli --cluster fix
// would, and goes on waiting. (Keys the master held in a slot it lost,
// Redis deleted: nothing brings them back.)
func (c *Cluster) wait(ctx context.Context, mend bool, expects ...expectation) error {
	since := time.Now()
	var failed string // the last mending's failure, until one succeeds
	return poll(ctx, func(ctx context.Context) []string {
		v, problems := c.check(ctx, expects)
		if len(problems) == 0 {
			c.record(v)
			return nil
		}
		if !mend {
			return problems
		}
		c.mu.Lock()
		open := make(map[int]bool, len(c.migrations))
		for s := range c.migrations {
			open[s] = true
		}
		c.mu.Unlock()
		lost := disowned(v, open)
		switch {
		case len(lost) == 0:
			since, failed = time.Now(), ""
		case time.Since(since) >= reclaimAfter:
			since, failed = time.Now(), ""
			for n, slots := range lost {
				err := reclaim(ctx, n, slots)
				if err != nil {
					failed = fmt.Sprintf("giving %s its slots %s again: %v", n.Addr(), formatSlots(slots), err)
				}
				c.mu.Lock()
				c.mended = append(c.mended, fmt.Sprintf("%s: gave %s its slots %s again (error: %v)",
					time.Now().UTC().Format("15:04:05.000"), n.Addr(), formatSlots(slots), err))
				c.mu.Unlock()
			}
		}
		if failed != "" {
			problems = append(problems, failed)
		}
		return problems
	})
}

// disowned returns, for each master that answered the check v, the slots
// its own view lacks and every other node that answered gives it, leaving
// out the slots in open (migrations in progress).
func disowned(v *view, open map[int]bool) map[*Node][]int {
	if v == nil {
		return nil
	}
	var lost map[*Node][]int
	for _, p := range v.probes {
		if p == nil || p.err != nil || p.self == nil || !p.self.master {
			continue
		}
		var others []*probe
		for _, q := range v.probes {
			if q != nil && q != p && q.err == nil {
				others = append(others, q)
			}
		}
		if len(others) == 0 {
			continue
		}
		first := others[0].byID[p.node.id]
		if first == nil {
			continue
		}
		for _, r := range first.slots {
			for s := r.Start; s <= r.End; s++ {
				if open[s] || ownsSlot(p.self, s) {
					continue
				}
				all := true
				for _, q := range others[1:] {
					if !ownsSlot(q.byID[p.node.id], s) {
						all = false
						break
					}
				}
				if all {
					if lost == nil {
						lost = map[*Node][]int{}
					}
					lost[p.node] = append(lost[p.node], s)
				}
			}
		}
	}
	return lost
}

// ownsSlot reports whether e, a line of CLUSTER NODES, lists slot s.
func ownsSlot(e *entry, s int) bool {
	return e != nil && slices.ContainsFunc(e.slots, func(r SlotRange) bool { return r.Contains(s) })
}

// reclaim gives slots to the master n again, on n, and then bumps its
// config epoch.
func reclaim(ctx context.Context, n *Node, slots []int) error {
	cmds := make([][]any, len(slots))
	for i, s := range slots {
		cmds[i] = []any{"CLUSTER", "SETSLOT", s, "NODE", n.id}
	}
	if _, err := n.doAll(ctx, cmds...); err != nil {
		return err
	}
	_, err := n.do(ctx, "CLUSTER", "BUMPEPOCH")
	return err
}

// cutShort reports whether ctx has ended, or reached its deadline: a call
// whose dial or read timed out on that deadline may return a moment before
// ctx's own timer says so, with "does not answer" problems that are the
// deadline's, not the cluster's.
func cutShort(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// poll calls f every pollInterval until it reports no problem, and returns
// nil then; when ctx ends first, it returns a *StabilityError with the
// problems of the last call that ctx did not cut short.
func poll(ctx context.Context, f func(ctx context.Context) []string) error {
	var last []string
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		problems := f(ctx)
		if len(problems) == 0 {
			return nil
		}
		if !cutShort(ctx) {
			last = problems
		}
		select {
		case <-ctx.Done():
			return &StabilityError{Problems: last, Err: ctx.Err()}
		case <-ticker.C:
		}
	}
}

// migrationMark is an open migration of one slot, as node IDs.
type migrationMark struct{ from, to string }

// harnessState is what the harness knows when it checks: which nodes are
// live, and which slots it is migrating.
type harnessState struct {
	live   []*Node           // in node order
	status map[string]State  // node ID -> state, every node
	names  map[string]string // node ID -> address, every node
	marks  map[int]migrationMark
	// orphans are the open migrations that a failed MigrateSlots left and
	// nobody holds, one problem each: the cluster is not stable with them.
	orphans []string
}

// check asks every live node and returns the view and the problems found.
func (c *Cluster) check(ctx context.Context, expects []expectation) (*view, []string) {
	c.mu.Lock()
	hs := harnessState{status: map[string]State{}, names: map[string]string{}, marks: map[int]migrationMark{}}
	for _, n := range c.nodes {
		hs.names[n.id] = n.Addr()
		hs.status[n.id] = n.stateLocked()
		if n.liveLocked() {
			hs.live = append(hs.live, n)
		}
	}
	seen := map[*Migration]bool{}
	for _, slot := range sortedKeys(c.migrations) {
		m := c.migrations[slot]
		hs.marks[slot] = migrationMark{m.from.id, m.to.id}
		if m.orphan && !seen[m] {
			seen[m] = true
			hs.orphans = append(hs.orphans, fmt.Sprintf(
				"slots %s: a MigrateSlots from %s to %s failed half-way; call it again to finish the migration, or BeginMigration with the same arguments and Abort it",
				formatSlots(m.slots), m.from.Addr(), m.to.Addr()))
		}
	}
	c.mu.Unlock()
	if len(hs.live) == 0 {
		return nil, []string{"no live node"}
	}
	probes := make([]*probe, len(hs.live))
	var wg sync.WaitGroup
	for i, n := range hs.live {
		wg.Go(func() { probes[i] = probeNode(ctx, n) })
	}
	wg.Wait()
	return evaluate(hs, probes, expects)
}

// evaluate judges the live nodes' answers (one probe per live node, in
// order) and returns the view and the problems found.
func evaluate(hs harnessState, probes []*probe, expects []expectation) (*view, []string) {
	live, status, marks := hs.live, hs.status, hs.marks
	v := &view{probes: probes, names: hs.names}
	problems := slices.Clone(hs.orphans)
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, p := range v.probes {
		if p.err != nil {
			add("%s: does not answer: %v", p.node.Addr(), p.err)
			continue
		}
		if v.ref == nil {
			v.ref = p
		}
		checkNode(p, live, marks, v, add)
	}
	if v.ref == nil {
		return nil, problems
	}

	// Every live node sees the same live nodes the same way.
	want := canonical(v.ref, live, v)
	for _, p := range v.probes {
		if p.err != nil || p == v.ref {
			continue
		}
		got := canonical(p, live, v)
		for i := range want {
			if got[i] != want[i] {
				add("%s and %s disagree: one sees %q, the other %q", v.ref.node.Addr(), p.node.Addr(), want[i], got[i])
				break
			}
		}
	}

	// Every slot is owned by a live master (as the reference node sees it).
	owner := make([]string, SlotCount)
	for _, e := range v.ref.entries {
		if e.master {
			for _, r := range e.slots {
				for s := r.Start; s <= r.End; s++ {
					owner[s] = e.id
				}
			}
		}
	}
	for start := 0; start < SlotCount; {
		end := start
		for end+1 < SlotCount && owner[end+1] == owner[start] {
			end++
		}
		r := SlotRange{start, end}
		switch id := owner[start]; {
		case id == "":
			add("%s: slots %s are not assigned", v.ref.node.Addr(), r)
		case status[id] != StateUp:
			state := "unknown to the harness"
			if s, ok := status[id]; ok {
				state = s.String()
			}
			add("%s: slots %s are owned by %s, which is %s", v.ref.node.Addr(), r, v.name(id), state)
		}
		start = end + 1
	}

	for _, ex := range expects {
		if msg := ex(v); msg != "" {
			add("%s", msg)
		}
	}
	return v, problems
}

// checkNode adds the problems of one live node's own answer.
func checkNode(p *probe, live []*Node, marks map[int]migrationMark, v *view, add func(string, ...any)) {
	me := p.node.Addr()
	if st := p.info["cluster_state"]; st != "ok" {
		add("%s: cluster_state:%s", me, st)
	}
	for _, m := range live {
		e := p.byID[m.id]
		if e == nil {
			add("%s: does not know %s", me, m.Addr())
			continue
		}
		if e.fail || e.pfail || e.handshake || e.noaddr {
			add("%s: sees %s with flags %s", me, m.Addr(), e.flags)
		}
		if !e.myself && !e.connected {
			add("%s: its link to %s is disconnected", me, m.Addr())
		}
		// A node alone in its cluster has never learnt its IP.
		if e.addr != m.Addr() && (!e.myself || e.addr != ":"+m.port) {
			add("%s: sees %s at %q", me, m.Addr(), e.addr)
		}
	}
	for _, slot := range sortedKeys(p.self.migrating) {
		if mk, ok := marks[slot]; !ok || mk.from != p.node.id || mk.to != p.self.migrating[slot] {
			add("%s: slot %d is migrating to %s, and no such migration is open", me, slot, v.name(p.self.migrating[slot]))
		}
	}
	for _, slot := range sortedKeys(p.self.importing) {
		mk, ok := marks[slot]
		if !ok || mk.to != p.node.id || mk.from != p.self.importing[slot] {
			add("%s: slot %d is importing from %s, and no such migration is open", me, slot, v.name(p.self.importing[slot]))
			continue
		}
		// A node importing a slot ignores news of its owner: while the
		// migration is open it keeps the slot with its former source.
		if e := p.byID[mk.from]; findNode(live, mk.from) == nil || (e != nil && !e.master) {
			add("%s: slot %d is importing from %s, which is no longer a live master: abort the migration", me, slot, v.name(mk.from))
		}
	}
	switch {
	case p.self.replica:
		master := findNode(live, p.self.masterID)
		if master == nil {
			add("%s: replicates %s, which is not live", me, v.name(p.self.masterID))
			return
		}
		if st := p.repl["master_link_status"]; st != "up" {
			add("%s: master_link_status:%s (master %s)", me, st, master.Addr())
			return
		}
		if at := p.repl["master_host"] + ":" + p.repl["master_port"]; at != master.Addr() {
			add("%s: replicates %s, but INFO replication says master %s", me, master.Addr(), at)
		}
	case p.self.master:
		if r := p.repl["role"]; r != "master" {
			add("%s: a master in CLUSTER NODES, but INFO replication says role:%s", me, r)
		}
	default:
		add("%s: neither master nor replica (flags %s)", me, p.self.flags)
	}
}

// canonical returns how p sees each live node, one line per node in node
// order: its role, and its slots or its master.
func canonical(p *probe, live []*Node, v *view) []string {
	out := make([]string, len(live))
	for i, m := range live {
		e := p.byID[m.id]
		switch {
		case e == nil:
			out[i] = m.Addr() + " unknown"
		case e.master:
			out[i] = m.Addr() + " master of slots " + formatRanges(e.slots)
		case e.replica:
			out[i] = m.Addr() + " replica of " + v.name(e.masterID)
		default:
			out[i] = m.Addr() + " flags " + e.flags
		}
	}
	return out
}

// record stores a stable view in the nodes: role, master, slots.
func (c *Cluster) record(v *view) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.removed {
			continue
		}
		e := v.entry(n)
		switch {
		case e == nil:
			n.role, n.masterID, n.slots = RoleUnknown, "", nil
		case e.master:
			n.role, n.masterID, n.slots = RoleMaster, "", slices.Clone(e.slots)
		case e.replica:
			n.role, n.masterID, n.slots = RoleReplica, e.masterID, nil
		default:
			n.role, n.masterID, n.slots = RoleUnknown, "", nil
		}
	}
}

// findNode returns the node of nodes with ID id, or nil.
func findNode(nodes []*Node, id string) *Node {
	for _, n := range nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Expectations of the operations.

// expectMaster: n is a master owning slots (when it had some to take).
func expectMaster(n *Node) expectation {
	return func(v *view) string {
		if e := v.entry(n); e == nil || !e.master {
			return fmt.Sprintf("waiting for %s to become a master", n.Addr())
		}
		return ""
	}
}

// expectReplicaOf: n replicates master.
func expectReplicaOf(n, master *Node) expectation {
	return func(v *view) string {
		if e := v.entry(n); e == nil || !e.replica || e.masterID != master.id {
			return fmt.Sprintf("waiting for %s to replicate %s", n.Addr(), master.Addr())
		}
		return ""
	}
}

// expectOwner: to owns every slot of slots.
func expectOwner(to *Node, slots []int) expectation {
	return func(v *view) string {
		e := v.entry(to)
		for _, s := range slots {
			if e == nil || !slices.ContainsFunc(e.slots, func(r SlotRange) bool { return r.Contains(s) }) {
				return fmt.Sprintf("waiting for %s to own slot %d", to.Addr(), s)
			}
		}
		return ""
	}
}

// expectForgotten: no live node knows the node with ID id.
func expectForgotten(id, addr string) expectation {
	return func(v *view) string {
		var who []string
		for _, p := range v.probes {
			if p.err == nil && p.byID[id] != nil {
				who = append(who, p.node.Addr())
			}
		}
		if len(who) > 0 {
			return fmt.Sprintf("waiting for %s to forget %s", strings.Join(who, ", "), addr)
		}
		return ""
	}
}
