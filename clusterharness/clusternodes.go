package clusterharness

import (
	"fmt"
	"strconv"
	"strings"
)

// entry is one line of CLUSTER NODES: what one node thinks of one node.
type entry struct {
	id        string
	addr      string // "ip:port", without the bus port and hostname; ":port" when the IP is unknown
	flags     string // as written, such as "myself,master"
	myself    bool
	master    bool
	replica   bool
	fail      bool // "fail": agreed by a majority of masters
	pfail     bool // "fail?": this node cannot reach it
	handshake bool
	noaddr    bool
	masterID  string // the master of a replica, or ""
	connected bool   // link-state "connected"
	slots     []SlotRange
	// Only on the myself line: slots this node is migrating (slot -> target
	// node ID) and importing (slot -> source node ID).
	migrating map[int]string
	importing map[int]string
}

// parseClusterNodes parses the text of a CLUSTER NODES reply (Redis 7's
// format: id addr flags master ping-sent pong-recv config-epoch link-state
// slots...).
func parseClusterNodes(text string) ([]*entry, error) {
	var out []*entry
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("clusterharness: CLUSTER NODES line %q: %d fields, want 8 or more", line, len(f))
		}
		e := &entry{id: f[0], flags: f[2], connected: f[7] == "connected"}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",")
		e.addr = addr
		for flag := range strings.SplitSeq(f[2], ",") {
			switch flag {
			case "myself":
				e.myself = true
			case "master":
				e.master = true
			case "slave":
				e.replica = true
			case "fail":
				e.fail = true
			case "fail?":
				e.pfail = true
			case "handshake":
				e.handshake = true
			case "noaddr":
				e.noaddr = true
			}
		}
		if f[3] != "-" {
			e.masterID = f[3]
		}
		for _, s := range f[8:] {
			if err := e.addSlots(s); err != nil {
				return nil, fmt.Errorf("clusterharness: CLUSTER NODES line %q: %w", line, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// addSlots adds one slot field: "a-b", "a", "[a->-id]" (migrating to id) or
// "[a-<-id]" (importing from id).
func (e *entry) addSlots(s string) error {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		body := s[1 : len(s)-1]
		if slot, id, ok := strings.Cut(body, "->-"); ok {
			n, err := strconv.Atoi(slot)
			if err != nil {
				return fmt.Errorf("slot field %q: %w", s, err)
			}
			if e.migrating == nil {
				e.migrating = map[int]string{}
			}
			e.migrating[n] = id
			return nil
		}
		if slot, id, ok := strings.Cut(body, "-<-"); ok {
			n, err := strconv.Atoi(slot)
			if err != nil {
				return fmt.Errorf("slot field %q: %w", s, err)
			}
			if e.importing == nil {
				e.importing = map[int]string{}
			}
			e.importing[n] = id
			return nil
		}
		return fmt.Errorf("slot field %q: unknown form", s)
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return fmt.Errorf("slot field %q: %w", s, err)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil {
			return fmt.Errorf("slot field %q: %w", s, err)
		}
	}
	if a < 0 || b < a || b >= SlotCount {
		return fmt.Errorf("slot field %q: out of range", s)
	}
	e.slots = append(e.slots, SlotRange{a, b})
	return nil
}

// parseInfo returns the "key:value" fields of an INFO or CLUSTER INFO reply.
func parseInfo(text string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}
