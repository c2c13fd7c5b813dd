package faultinject

import (
	"fmt"
	"math"
)

// ToxicInfo describes one configured toxic, as listed by Toxics.
type ToxicInfo struct {
	// Name is the toxic's unique name within its proxy.
	Name string
	// Direction is the direction the toxic applies to.
	Direction Direction
	// Toxic is the toxic's current settings, a value type such as Latency.
	Toxic Toxic
	// Toxicity is the probability, in [0, 1], that the toxic applies to a
	// given connection.
	Toxicity float64
}

// toxicEntry is one configured toxic. Entries are immutable once published:
// UpdateToxic replaces the entry, keeping its id unless the kind changes.
type toxicEntry struct {
	id       uint64 // identifies per-connection state (LimitData count, ResetPeer timer, ...)
	name     string
	dir      Direction
	toxic    Toxic
	toxicity float64
}

// snapshot is the immutable toxic set of one direction, published with
// publishLocked. Forwarders load the current one per chunk and wait on
// changed, which is closed when a newer snapshot replaces this one.
type snapshot struct {
	toxics  []*toxicEntry // this direction's toxics, in application order
	paused  bool
	changed chan struct{}
}

// AddToxic adds a toxic called name, unique within the proxy, on direction
// dir. Toxics of a direction apply in the order they were added; UpdateToxic
// keeps a toxic's place.
//
// Toxicity, in [0, 1], is the probability that the toxic applies to a given
// connection: 1 means every connection, 0 none. The decision is made once per
// connection and toxic name: each connection has a fixed random number u in
// [0, 1) for each name, derived from the seed, the connection's index and the
// name, and the toxic applies to it while u < toxicity. So a connection's
// decision is the same whether it was opened before or after the toxic was
// added, and it only changes when UpdateToxic changes the toxicity.
//
// The toxic takes effect at once, also on open connections: every byte the
// proxy has not begun to write when AddToxic returns goes through it.
func (p *Proxy) AddToxic(name string, dir Direction, t Toxic, toxicity float64) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidToxic)
	}
	if !dir.valid() {
		return fmt.Errorf("%w: %d", ErrInvalidDirection, uint8(dir))
	}
	t, err := canonicalToxic(t)
	if err != nil {
		return err
	}
	if err := checkToxicity(toxicity); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.findLocked(name) >= 0 {
		return fmt.Errorf("%w: %q", ErrToxicExists, name)
	}
	p.nextID++
	p.toxics = append(p.toxics, &toxicEntry{id: p.nextID, name: name, dir: dir, toxic: t, toxicity: toxicity})
	p.publishLocked()
	p.logf("faultinject %s: added %s toxic %q on %s (toxicity %g)", p.addr, t.Kind(), name, dir, toxicity)
	return nil
}

// UpdateToxic replaces the settings and toxicity of the toxic called name. Its
// direction and place in the order stay. Per-connection state of the toxic,
// such as the bytes counted by LimitData or the start of a ResetPeer timer,
// is kept when the kind stays the same and starts afresh when it changes.
// Like AddToxic, the change takes effect at once: data already waiting in
// the toxic (say, a chunk in a long Latency) is re-evaluated with the new
// settings, and no byte is lost, duplicated or reordered.
func (p *Proxy) UpdateToxic(name string, t Toxic, toxicity float64) error {
	t, err := canonicalToxic(t)
	if err != nil {
		return err
	}
	if err := checkToxicity(toxicity); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	i := p.findLocked(name)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrToxicNotFound, name)
	}
	old := p.toxics[i]
	e := &toxicEntry{id: old.id, name: name, dir: old.dir, toxic: t, toxicity: toxicity}
	if old.toxic.Kind() != t.Kind() {
		p.nextID++
		e.id = p.nextID
	}
	p.toxics[i] = e
	p.publishLocked()
	p.logf("faultinject %s: updated %s toxic %q (toxicity %g)", p.addr, t.Kind(), name, toxicity)
	return nil
}

// RemoveToxic removes the toxic called name. Data it was holding back is
// forwarded through the remaining toxics at once.
func (p *Proxy) RemoveToxic(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	i := p.findLocked(name)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrToxicNotFound, name)
	}
	p.toxics = append(p.toxics[:i:i], p.toxics[i+1:]...)
	p.publishLocked()
	p.logf("faultinject %s: removed toxic %q", p.addr, name)
	return nil
}

// RemoveAllToxics removes every toxic.
func (p *Proxy) RemoveAllToxics() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.toxics) == 0 {
		return
	}
	p.toxics = nil
	p.publishLocked()
	p.logf("faultinject %s: removed all toxics", p.addr)
}

// Toxics lists the configured toxics in the order they apply.
func (p *Proxy) Toxics() []ToxicInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ToxicInfo, len(p.toxics))
	for i, e := range p.toxics {
		out[i] = ToxicInfo{Name: e.name, Direction: e.dir, Toxic: e.toxic, Toxicity: e.toxicity}
	}
	return out
}

// Toxic returns the toxic called name.
func (p *Proxy) Toxic(name string) (ToxicInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.findLocked(name)
	if i < 0 {
		return ToxicInfo{}, false
	}
	e := p.toxics[i]
	return ToxicInfo{Name: e.name, Direction: e.dir, Toxic: e.toxic, Toxicity: e.toxicity}, true
}

// findLocked returns the index of the toxic called name, or -1.
func (p *Proxy) findLocked(name string) int {
	for i, e := range p.toxics {
		if e.name == name {
			return i
		}
	}
	return -1
}

// publishLocked publishes new snapshots of both directions, wakes every
// forwarder waiting on the old ones and brings the ResetPeer timers of the
// open connections up to date. p.mu must be held.
func (p *Proxy) publishLocked() {
	for d := range Direction(numDirections) {
		s := &snapshot{paused: p.paused, changed: make(chan struct{})}
		for _, e := range p.toxics {
			if e.dir == d {
				s.toxics = append(s.toxics, e)
			}
		}
		if old := p.snaps[d].Swap(s); old != nil {
			close(old.changed)
		}
	}
	for l := range p.conns {
		l.syncResets(p.toxics)
	}
}

// checkToxicity validates a toxicity.
func checkToxicity(x float64) error {
	if math.IsNaN(x) || x < 0 || x > 1 {
		return fmt.Errorf("%w: %v", ErrInvalidToxicity, x)
	}
	return nil
}
