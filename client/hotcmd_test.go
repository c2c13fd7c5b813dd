package client

import (
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

// hotTable is a command table with a container command, stored as the
// Mux's table.
func hotTable(m *Mux, getFlags CommandFlags) commandTable {
	t := commandTable{}
	t.add(&CommandInfo{Name: "get", Flags: getFlags})
	t.add(&CommandInfo{Name: "set", Flags: FlagWrite})
	t.add(&CommandInfo{Name: "client", Subcommands: map[string]*CommandInfo{
		"setname": {Name: "client|setname", Flags: FlagWrite},
		"list":    {Name: "client|list", Flags: FlagReadOnly},
	}})
	m.cmds.Store(&t)
	return t
}

func newOfflineMux(t *testing.T) *Mux {
	t.Helper()
	m, err := New(Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// The cache answers as the table does: a second lookup of a constant name
// is a hit; subcommands and containers are never served from it; a new
// table (COMMAND loaded) replaces what was cached; names passed as bytes
// are not cached.
func TestHotCommandCache(t *testing.T) {
	m := newOfflineMux(t)
	tbl := hotTable(m, FlagReadOnly)
	get := "GET"
	if ci := m.lookupCommand(get, "", true); ci != tbl["get"] {
		t.Fatalf("GET: %+v", ci)
	}
	h := m.hotSlot(unsafeData(get))
	if h.data.Load() != unsafeData(get) || h.ci.Load() != tbl["get"] {
		t.Fatalf("GET was not cached")
	}
	if ci := m.lookupCommand(get, "", true); ci != tbl["get"] {
		t.Fatalf("GET, cached: %+v", ci)
	}

	client := "CLIENT"
	if ci := m.lookupCommand(client, "SETNAME", true); ci != tbl["client"].Subcommands["setname"] {
		t.Fatalf("CLIENT SETNAME: %+v", ci)
	}
	if ci := m.lookupCommand(client, "list", true); ci != tbl["client"].Subcommands["list"] {
		t.Fatalf("CLIENT LIST after CLIENT SETNAME: %+v (a subcommand's info was cached under CLIENT)", ci)
	}
	if ci := m.lookupCommand(client, "", true); ci != tbl["client"] {
		t.Fatalf("CLIENT: %+v", ci)
	}
	if m.hotSlot(unsafeData(client)).data.Load() == unsafeData(client) {
		t.Fatalf("a container command was cached")
	}

	newTbl := hotTable(m, FlagWrite)
	if ci := m.lookupCommand(get, "", true); ci != newTbl["get"] || !ci.Is(FlagWrite) {
		t.Fatalf("GET after a new table: %+v, want the new table's", ci)
	}

	name := []byte("SET")
	if ci := m.lookupCommand(unsafeString(name), "", false); ci != newTbl["set"] { // as argString passes a []byte
		t.Fatalf("SET as bytes: %+v", ci)
	}
	copy(name, "GET") // the owner changes the bytes: nothing cached may say SET
	if ci := m.lookupCommand(unsafeString(name), "", false); ci != newTbl["get"] {
		t.Fatalf("bytes changed to GET: %+v, want GET's info", ci)
	}
}

// Many goroutines looking up names that share slots always get each name's
// own info (run with -race: the slots are seqlocks over atomics).
func TestHotCommandCacheConcurrent(t *testing.T) {
	m := newOfflineMux(t)
	tbl := commandTable{}
	names := make([]string, 4*hotSlots)
	for i := range names {
		names[i] = fmt.Sprintf("CMD%d", i)
		tbl.add(&CommandInfo{Name: fmt.Sprintf("cmd%d", i), Arity: i})
	}
	m.cmds.Store(&tbl)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < scaled(20000); i++ {
				k := (i*7 + g) % len(names)
				if ci := m.lookupCommand(names[k], "", true); ci == nil || ci.Arity != k {
					errs <- fmt.Errorf("%s: got %+v", names[k], ci)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func unsafeData(s string) *byte { return unsafe.StringData(s) }

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
