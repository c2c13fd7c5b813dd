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
// has given the slots to the target. Its methods are safe for concurrent
// use; they run one at a time with the cluster's other operations.
type Migration struct {
	c        *Cluster
	from, to *Node // immutable
	slots    []int // immutable: sorted, unique

	finished bool // guarded by c.mu
}

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
// CLUSTER GETKEYSINSLOT and MIGRATE (with AUTH when the nodes have a
// password) until the slot is empty, then SETSLOT NODE on to, from and the
// other live masters. Clients running meanwhile see ASK and then MOVED
// redirections. It is BeginMigration followed by Finish, in one operation;
// if it fails half-way, the slots may be left migrating (see the error).
//
// A master that gives away its last slot stays a master, without slots
// (the nodes run with cluster-allow-replica-migration no), and keeps its
// replicas.
func (c *Cluster) MigrateSlots(ctx context.Context, from, to *Node, slots []int) (int, error) {
	if err := c.begin(from, to); err != nil {
		return 0, err
	}
	defer c.opMu.Unlock()
	m, err := c.beginMigration(ctx, from, to, slots)
	if err != nil {
		return 0, err
	}
	return m.finish(ctx)
}

// BeginMigration puts slots in the migrating state, from the master from
// to the master to (CLUSTER SETSLOT IMPORTING on to, MIGRATING on from),
// and moves no key: clients get ASK redirections for the keys that are not
// on from. The cluster is considered stable with these slots migrating
// until Finish. MoveKeys moves keys, some or all; Finish moves the rest and
// gives the slots to to. If setting the states fails, they are undone (on
// a best-effort basis) and no Migration is returned.
func (c *Cluster) BeginMigration(ctx context.Context, from, to *Node, slots []int) (*Migration, error) {
	if err := c.begin(from, to); err != nil {
		return nil, err
	}
	defer c.opMu.Unlock()
	return c.beginMigration(ctx, from, to, slots)
}

func (c *Cluster) beginMigration(ctx context.Context, from, to *Node, slots []int) (*Migration, error) {
	if err := c.requireLive(from, to); err != nil {
		return nil, err
	}
	slots = slices.Clone(slots)
	slices.Sort(slots)
	slots = slices.Compact(slots)
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
		_, err1 := to.pipeline(uctx, stable...)
		_, err2 := from.pipeline(uctx, stable...)
		c.mu.Lock()
		for _, s := range slots {
			delete(c.migrations, s)
		}
		c.mu.Unlock()
		return nil, errors.Join(err, err1, err2)
	}
	return m, c.waitStable(ctx)
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
		if c.migrations[s] != nil {
			return fmt.Errorf("%w: slot %d is already migrating", ErrInvalidSlot, s)
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
func (m *Migration) MoveKeys(ctx context.Context, keys ...string) (int, error) {
	c := m.c
	if err := c.begin(m.from, m.to); err != nil {
		return 0, err
	}
	defer c.opMu.Unlock()
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
// called again.
func (m *Migration) Finish(ctx context.Context) (int, error) {
	c := m.c
	if err := c.begin(m.from, m.to); err != nil {
		return 0, err
	}
	defer c.opMu.Unlock()
	return m.finish(ctx)
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
	m.finished = true
	for _, s := range m.slots {
		delete(c.migrations, s)
	}
	c.mu.Unlock()
	return moved, c.waitStable(ctx, expectOwner(m.to, m.slots))
}

// usable returns an error when the migration is finished or one of its
// nodes is not live.
func (m *Migration) usable() error {
	m.c.mu.Lock()
	finished := m.finished
	m.c.mu.Unlock()
	if finished {
		return ErrMigrationFinished
	}
	return m.c.requireLive(m.from, m.to)
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
	cmd := []any{"MIGRATE", m.to.srv.Host(), m.to.srv.Port(), key, 0, migrateTimeout}
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
