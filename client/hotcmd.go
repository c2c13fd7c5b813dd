package client

import (
	"sync/atomic"
	"unsafe"
)

// A small cache of command lookups in front of the command table.
//
// Nearly every program sends a handful of commands whose names are string
// constants, so the name's bytes have the same address at every call. The
// cache keys on that address (and the length): a hit costs a few loads of
// one read-mostly cache line instead of a map lookup, whose hashing and
// deep stack frame were a measurable part of every command at thousands of
// goroutines (every stack line touched is a cache miss after a wait).
//
// Only names passed as Go strings are cached: a []byte name may be changed
// by its owner after the call, while the bytes of a string may not. The
// slot holds the name's bytes as a pointer, so they cannot be freed and
// reused for another name while cached. A slot is a seqlock: a reader
// retries nothing; it falls back to the table when it sees a write in
// progress or a different name. Commands with subcommands are not cached
// (their info depends on the next argument).

const (
	hotBits  = 4
	hotSlots = 1 << hotBits
)

// hotCommand is one slot of the cache.
type hotCommand struct {
	seq   atomic.Uint32 // odd while being written
	data  atomic.Pointer[byte]
	n     atomic.Int64
	table atomic.Pointer[commandTable] // the table ci came from (nil: the static one)
	ci    atomic.Pointer[CommandInfo]
	_     [24]byte // one slot per cache line
}

// hotSlot is the slot for a name whose bytes start at p.
func (m *Mux) hotSlot(p *byte) *hotCommand {
	// Fibonacci hashing: names' bytes may lie next to each other (string
	// constants are packed), so every bit of the address counts.
	return &m.hot[uint64(uintptr(unsafe.Pointer(p)))*0x9e3779b97f4a7c15>>(64-hotBits)]
}

// lookupCommand is m.commands().lookup(name, sub), through the cache when
// isString says name is a Go string.
func (m *Mux) lookupCommand(name, sub string, isString bool) *CommandInfo {
	t := m.cmds.Load()
	if !isString || len(name) == 0 {
		return tableOf(t).lookup(name, sub)
	}
	p := unsafe.StringData(name)
	h := m.hotSlot(p)
	if s := h.seq.Load(); s&1 == 0 && h.data.Load() == p && h.n.Load() == int64(len(name)) && h.table.Load() == t {
		ci := h.ci.Load()
		if h.seq.Load() == s {
			return ci
		}
	}
	ci := tableOf(t).lookup(name, sub)
	// Cache the command's own info only: not a subcommand's (looked up
	// under the container's name), nor a container's.
	if ci != nil && ci.Subcommands == nil && (sub == "" || tableOf(t).lookup(name, "") == ci) {
		if s := h.seq.Load(); s&1 == 0 && h.seq.CompareAndSwap(s, s+1) {
			h.data.Store(p)
			h.n.Store(int64(len(name)))
			h.table.Store(t)
			h.ci.Store(ci)
			h.seq.Store(s + 2)
		}
	}
	return ci
}

// tableOf is the table t points to, or the static table for nil.
func tableOf(t *commandTable) commandTable {
	if t != nil {
		return *t
	}
	return staticCommands
}
