package clusterharness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Migration is a migration of slots from one master to another, begun by
// BeginMigration: the slots are in the migrating state on the source and
// importing on the target, so clients get ASK redirections for keys that
// already moved (or that do not exist on the source) and MOVED once Finish
// has given the slots to the target. A migration is open until Finish
// succeeds or Abort ends it. Its methods are safe for concurrent use; they
// run one at a time with the cluster's other operations.
type Migration struct {
	c        *Cluster
	from, to *Node // immutable
	slots    []int // immutable: sorted, unique

	state migrationState // guarded by c.mu
	// orphan: guarded by c.mu; a MigrateSlots that failed left the
	// migration open, and nobody holds it (BeginMigration hands it over).
	orphan bool
	// assigning: guarded by c.mu; finish has begun sending SETSLOT NODE,
	// so Abort can no longer give the slots back (ErrMigrationAssigning).
	assigning bool
}

// migrationState is where a Migration is in its life.
type migrationState int

const (
	migrationOpen     migrationState = iota // its slots are (being) set migrating
	migrationFinished                       // Finish gave the slots to the target
	migrationAborted                        // Abort set the slots stable
)

// From returns the master the slots leave.
func (m *Migration) From() *Node { return m.from }

// To returns the master the slots go to.
func (m *Migration) To() *Node { return m.to }

// Slots returns the slots being migrated, sorted.
func (m *Migration) Slots() []int { return slices.Clone(m.slots) }

// MigrateSlots moves slots, with their keys, from the master from to the
// master to, the way redis-cli --cluster reshard does, and waits until the
// cluster is stable with to owning them. It returns how many keys moved.
// For each slot: CLUSTER SETSLOT IMPORTING on to, MIGRATING on from, then
// CLUSTER GETKEYSINSLOT and MIGRATE (with REPLACE, and AUTH when the nodes
// have a password) until the slot is empty, then SETSLOT NODE on to, from
// and the other live masters. Clients running meanwhile see ASK and then
// MOVED redirections. It is BeginMigration followed by Finish, in one
// operation.
//
// If it fails half-way (its context ends while keys move, a node fails,
// ...), the slots may be left migrating, with some keys on each node. The
// cluster is then not stable (WaitStable, and every operation's own wait,
// report it) until the migration is resumed or aborted: call MigrateSlots
// again with the same from, to and slots to resume it (it moves the keys
// left and finishes), or BeginMigration with the same arguments to get the
// open Migration, and Abort it. When slots are part of an open migration
// with another source, target or set of slots, the error matches
// ErrInvalidSlot.
//
// A master that gives away its last slot stays a master, without slots
// (the nodes run with cluster-allow-replica-migration no), and keeps its
// replicas.
func (c *Cluster) MigrateSlots(ctx context.Context, from, to *Node, slots []int) (moved int, err error) {
	ctx, end, err := c.begin(ctx, from, to)
	if err != nil {
		return 0, err
	}
	defer end(&err)
	slots = normSlots(slots)
	m, err := c.openMigration(from, to, slots)
	if err != nil {
		return 0, err
	}
	held := false // by a caller of BeginMigration, who can Finish or Abort it
	if m != nil {
		c.mu.Lock()
		held, m.orphan = !m.orphan, false
		c.mu.Unlock()
	} else {
		m, err = c.newMigration(ctx, from, to, slots)
	}
	if err == nil {
		moved, err = m.finish(ctx)
	}
	if err != nil && m != nil && !held {
		c.mu.Lock()
		m.orphan = m.state == migrationOpen
		c.mu.Unlock()
	}
	return moved, err
}

// BeginMigration puts slots in the migrating state, from the master from
// to the master to (CLUSTER SETSLOT IMPORTING on to, MIGRATING on from),
// and moves no key: clients get ASK redirections for the keys that are not
// on from. The cluster is considered stable with these slots migrating
// until Finish or Abort. MoveKeys moves keys, some or all; Finish moves the
// rest and gives the slots to to; Abort leaves them with from.
//
// When from, to and slots are those of an open migration (one that a
// MigrateSlots left half-way, say), BeginMigration returns that Migration,
// as it is, and waits for stability. If setting the states fails, they are
// undone (on a best-effort basis) and no Migration is returned, unless
// undoing failed too: the Migration is then returned with the error, to
// Finish or Abort.
func (c *Cluster) BeginMigration(ctx context.Context, from, to *Node, slots []int) (_ *Migration, err error) {
	ctx, end, err := c.begin(ctx, from, to)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	slots = normSlots(slots)
	m, err := c.openMigration(from, to, slots)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return c.newMigration(ctx, from, to, slots)
	}
	c.mu.Lock()
	m.orphan = false // handed over
	c.mu.Unlock()
	return m, c.waitStable(ctx)
}

// normSlots returns slots sorted, without duplicates, in a new slice.
func normSlots(slots []int) []int {
	slots = slices.Clone(slots)
	slices.Sort(slots)
	return slices.Compact(slots)
}

// newMigration begins a migration of slots (sorted, unique) and waits for
// stability. The Migration is nil unless it is open: the error says why.
func (c *Cluster) newMigration(ctx context.Context, from, to *Node, slots []int) (*Migration, error) {
	if err := c.requireLive(from, to); err != nil {
		return nil, err
	}
	m := &Migration{c: c, from: from, to: to, slots: slots}
	if err := c.checkMigration(m); err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, s := range slots {
		c.migrations[s] = m
	}
	c.mu.Unlock()

	importing := make([][]any, len(slots))
	migrating := make([][]any, len(slots))
	stable := make([][]any, len(slots))
	for i, s := range slots {
		importing[i] = []any{"CLUSTER", "SETSLOT", s, "IMPORTING", from.id}
		migrating[i] = []any{"CLUSTER", "SETSLOT", s, "MIGRATING", to.id}
		stable[i] = []any{"CLUSTER", "SETSLOT", s, "STABLE"}
	}
	_, err := to.doAll(ctx, importing...)
	if err == nil {
		_, err = from.doAll(ctx, migrating...)
	}
	if err != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		defer cancel()
		_, err1 := to.doAll(uctx, stable...)
		_, err2 := from.doAll(uctx, stable...)
		if err1 != nil || err2 != nil {
			// Left open, for Finish or Abort.
			return m, errors.Join(err, err1, err2)
		}
		c.mu.Lock()
		m.state = migrationAborted
		for _, s := range slots {
			delete(c.migrations, s)
		}
		c.mu.Unlock()
		return nil, err
	}
	return m, c.waitStable(ctx)
}

// openMigration returns the open migration of exactly from, to and slots
// (sorted, unique), or nil; or an error matching ErrInvalidSlot when some
// of slots are part of another open migration.
func (c *Cluster) openMigration(from, to *Node, slots []int) (*Migration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var found *Migration
	for _, s := range slots {
		o := c.migrations[s]
		switch {
		case o == nil:
			continue
		case o.from != from || o.to != to || !slices.Equal(o.slots, slots):
			return nil, fmt.Errorf("%w: slot %d is already migrating from %s to %s, with slots %s (finish or abort that migration first)",
				ErrInvalidSlot, s, o.from.Addr(), o.to.Addr(), formatSlots(o.slots))
		}
		found = o
	}
	return found, nil
}

// checkMigration checks roles and slots against the last stable view.
func (c *Cluster) checkMigration(m *Migration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(m.slots) == 0 {
		return fmt.Errorf("%w: no slots to migrate", ErrInvalidSlot)
	}
	for _, n := range []*Node{m.from, m.to} {
		if n.role != RoleMaster {
			return fmt.Errorf("%w: migration with %s, a %s", ErrWrongRole, n.Addr(), n.role)
		}
	}
	if m.from == m.to {
		return fmt.Errorf("%w: migration from %s to itself", ErrInvalidSlot, m.from.Addr())
	}
	for _, s := range m.slots {
		if err := checkSlot(s); err != nil {
			return err
		}
		if !slices.ContainsFunc(m.from.slots, func(r SlotRange) bool { return r.Contains(s) }) {
			return fmt.Errorf("%w: slot %d is not owned by %s", ErrInvalidSlot, s, m.from.Addr())
		}
	}
	return nil
}

// MoveKeys moves keys from the source to the target with MIGRATE: the
// given keys, which must belong to the migration's slots, or when none are
// given every key of those slots. It returns how many keys moved (a key
// that does not exist on the source is not counted). Moving keys changes
// no topology, so MoveKeys does not wait for stability. A client test can
// move some keys and not others to see both answers of a migrating slot:
// the key itself on the source, or an ASK redirection to the target.
func (m *Migration) MoveKeys(ctx context.Context, keys ...string) (_ int, err error) {
	c := m.c
	ctx, end, err := c.begin(ctx, m.from, m.to)
	if err != nil {
		return 0, err
	}
	defer end(&err)
	if err := m.usable(); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return m.moveAll(ctx)
	}
	cmds := make([][]any, len(keys))
	for i, k := range keys {
		if !slices.Contains(m.slots, KeySlot(k)) {
			return 0, fmt.Errorf("%w: key %q is in slot %d, which this migration does not move", ErrInvalidSlot, k, KeySlot(k))
		}
		cmds[i] = m.migrateCmd(k)
	}
	replies, err := m.from.doAll(ctx, cmds...)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, v := range replies {
		if v.Text() == "OK" {
			moved++
		}
	}
	return moved, nil
}

// Finish moves the keys left in the migration's slots, gives the slots to
// the target (CLUSTER SETSLOT NODE on the target, the source and the other
// live masters) and waits until the cluster is stable with the target
// owning them. It returns how many keys it moved. If it fails, it may be
// called again; if it cannot succeed (the source was killed, or failed
// over), Abort the migration.
func (m *Migration) Finish(ctx context.Context) (_ int, err error) {
	c := m.c
	ctx, end, err := c.begin(ctx, m.from, m.to)
	if err != nil {
		return 0, err
	}
	defer end(&err)
	return m.finish(ctx)
}

// Abort ends the migration without moving its slots: CLUSTER SETSLOT
// STABLE for its slots on every live master, the source and the target
// included, so that no node has them migrating or importing any more and
// they stay with their owner (the source, or the replica that took over
// from it), then it waits until the cluster is stable. It works whatever
// step the migration is in, its source or target live or not, up to the
// point where a Finish (or MigrateSlots) that then failed had begun giving
// the slots to the target: from there Abort returns ErrMigrationAssigning,
// and only Finish can complete the migration.
//
// Keys already moved (by MoveKeys, or by a Finish or MigrateSlots that
// failed half-way) stay where they are: on the target, which does not own
// their slot, so clients no longer reach them (the target answers MOVED
// to the owner, which does not have them). Migrating the slot to the same
// target later brings them back into view, together with the owner's keys
// (MIGRATE REPLACE: where both nodes have a key, the owner's copy wins).
//
// After Abort, Finish and MoveKeys return an error matching
// ErrMigrationFinished. Aborting an aborted migration sends the SETSLOT
// STABLE again (for a node that was not live the first time and came back
// with the slot migrating) to the slots no other migration has taken
// since; aborting a finished one returns ErrMigrationFinished. If Abort
// fails, the migration stays open and Abort may be called again.
func (m *Migration) Abort(ctx context.Context) (err error) {
	c := m.c
	ctx, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end(&err)
	c.mu.Lock()
	state, assigning := m.state, m.assigning
	var slots []int
	for _, s := range m.slots {
		if o := c.migrations[s]; o == nil || o == m {
			slots = append(slots, s)
		}
	}
	var masters []*Node
	for _, n := range c.nodes {
		if n.liveLocked() && n.role == RoleMaster {
			masters = append(masters, n)
		}
	}
	c.mu.Unlock()
	if state == migrationFinished {
		return ErrMigrationFinished
	}
	if assigning {
		return fmt.Errorf("%w: slots %s, from %s to %s", ErrMigrationAssigning, formatSlots(m.slots), m.from.Addr(), m.to.Addr())
	}
	stable := make([][]any, len(slots))
	for i, s := range slots {
		stable[i] = []any{"CLUSTER", "SETSLOT", s, "STABLE"}
	}
	for _, n := range masters {
		if _, err := n.doAll(ctx, stable...); err != nil {
			return fmt.Errorf("clusterharness: abort migration of slots %s: %w", formatSlots(m.slots), err)
		}
	}
	c.mu.Lock()
	m.state, m.orphan = migrationAborted, false
	for _, s := range slots {
		delete(c.migrations, s)
	}
	c.mu.Unlock()
	return c.waitStable(ctx)
}

func (m *Migration) finish(ctx context.Context) (int, error) {
	c := m.c
	if err := m.usable(); err != nil {
		return 0, err
	}
	moved, err := m.moveAll(ctx)
	if err != nil {
		return moved, err
	}
	assign := make([][]any, len(m.slots))
	for i, s := range m.slots {
		assign[i] = []any{"CLUSTER", "SETSLOT", s, "NODE", m.to.id}
	}
	// The target first, so that it owns the slots before the source
	// redirects there with MOVED; then the source; then everyone else.
	targets := []*Node{m.to, m.from}
	c.mu.Lock()
	m.assigning = true
	for _, n := range c.nodes {
		if n != m.to && n != m.from && n.liveLocked() && n.role == RoleMaster {
			targets = append(targets, n)
		}
	}
	c.mu.Unlock()
	for _, n := range targets {
		if _, err := n.doAll(ctx, assign...); err != nil {
			return moved, err
		}
	}
	c.mu.Lock()
	m.state = migrationFinished
	for _, s := range m.slots {
		delete(c.migrations, s)
	}
	c.mu.Unlock()
	return moved, c.waitStable(ctx, expectOwner(m.to, m.slots))
}

// usable returns an error when the migration is finished or aborted, or
// one of its nodes is not live.
func (m *Migration) usable() error {
	m.c.mu.Lock()
	state := m.state
	m.c.mu.Unlock()
	switch state {
	case migrationFinished:
		return ErrMigrationFinished
	case migrationAborted:
		return fmt.Errorf("%w: it was aborted", ErrMigrationFinished)
	}
	if err := m.c.requireLive(m.from, m.to); err != nil {
		return fmt.Errorf("%w (abort the migration if it cannot come back)", err)
	}
	return nil
}

// moveAll moves every key of the migration's slots, migrateBatch at a time.
func (m *Migration) moveAll(ctx context.Context) (int, error) {
	moved := 0
	for _, s := range m.slots {
		for {
			v, err := m.from.do(ctx, "CLUSTER", "GETKEYSINSLOT", s, migrateBatch)
			if err != nil {
				return moved, err
			}
			if len(v.Elems) == 0 {
				break
			}
			keys := make([]string, len(v.Elems))
			for i, e := range v.Elems {
				keys[i] = e.Text()
			}
			reply, err := m.from.do(ctx, m.migrateCmd("", keys...)...)
			if err != nil {
				return moved, fmt.Errorf("clusterharness: moving slot %d (%s...): %w", s, strings.Join(keys[:min(3, len(keys))], ", "), err)
			}
			if reply.Text() == "OK" {
				moved += len(keys)
			}
		}
	}
	return moved, nil
}

// migrateCmd returns the MIGRATE command that moves key (or, when key is
// "", the keys) to the target, authenticated like the harness.
func (m *Migration) migrateCmd(key string, keys ...string) []any {
	// REPLACE: where the target has a key too (moved there before an
	// Abort, or by a MIGRATE that failed half-way), the source's copy is
	// the one clients saw.
	cmd := []any{"MIGRATE", m.to.srv.Host(), m.to.srv.Port(), key, 0, migrateTimeout, "REPLACE"}
	switch a := m.to.auth; len(a) {
	case 2: // AUTH password
		cmd = append(cmd, "AUTH", a[1])
	case 3: // AUTH user password
		cmd = append(cmd, "AUTH2", a[1], a[2])
	}
	if key == "" {
		cmd = append(cmd, "KEYS")
		for _, k := range keys {
			cmd = append(cmd, k)
		}
	}
	return cmd
}
