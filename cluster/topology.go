package cluster

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/justredis/justredis/resp"
)

// topology is one view of the cluster: which node serves each slot.
type topology struct {
	// shards: sorted by master address. Masters that serve no slots (just
	// added, or emptied by a reshard) are among them, for fan-out
	// (Masters, DoOnMasters) and refreshes; slots never point to them.
	shards []*shard
	slots  [SlotCount]int16 // index into shards; -1 where no shard serves the slot
}

// shard is a master and its replicas, and the slot ranges they serve.
type shard struct {
	master   string   // "host:port"
	replicas []string // healthy replicas, "host:port"
	// standby: replicas CLUSTER SHARDS calls "loading" (replication offset
	// 0: syncing, or never written to), "host:port". Not read from (one
	// that never synced serves an empty dataset), but asked by refreshes:
	// on a fresh cluster every replica is one until the first write.
	standby []string
	ranges  [][2]int // inclusive slot ranges
}

// fingerprint identifies a view, so that views from several nodes can be
// compared: same masters, same slot ranges, same replicas. A replica is in
// it whether the view calls it online or loading (standby): nodes learn of
// a replica's first sync at different times, and should not disagree over
// it (merge settles which it is).
func (t *topology) fingerprint() string {
	var b strings.Builder
	for _, s := range t.shards {
		b.WriteString(s.master)
		for _, r := range s.ranges {
			fmt.Fprintf(&b, " %d-%d", r[0], r[1])
		}
		b.WriteString(" |")
		for _, r := range slices.Sorted(slices.Values(append(slices.Clip(s.replicas), s.standby...))) {
			b.WriteString(" " + r)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// merge folds u, a view with the same fingerprint (the same shards in the
// same order, the same replicas), into t: a replica serves reads only if
// both call it online, and is standby otherwise. So a replica serves
// reads once every node that answered has seen its first sync, not
// whenever the view of one that has happens to win.
func (t *topology) merge(u *topology) {
	for i, s := range t.shards {
		all := append(slices.Clip(s.replicas), s.standby...)
		var online, standby []string
		for _, a := range all {
			if slices.Contains(s.replicas, a) && slices.Contains(u.shards[i].replicas, a) {
				online = append(online, a)
			} else {
				standby = append(standby, a)
			}
		}
		sort.Strings(online)
		sort.Strings(standby)
		s.replicas, s.standby = online, standby
	}
}

// isReplica reports whether addr is one of t's replicas (standby ones
// included).
func (t *topology) isReplica(addr string) bool {
	for _, s := range t.shards {
		if slices.Contains(s.replicas, addr) || slices.Contains(s.standby, addr) {
			return true
		}
	}
	return false
}

// covered counts the slots that have an owner.
func (t *topology) covered() int {
	n := 0
	for _, i := range t.slots {
		if i >= 0 {
			n++
		}
	}
	return n
}

func newTopology(shards []*shard) (*topology, error) {
	sort.Slice(shards, func(i, j int) bool { return shards[i].master < shards[j].master })
	t := &topology{shards: shards}
	for i := range t.slots {
		t.slots[i] = -1
	}
	for i, s := range shards {
		for _, r := range s.ranges {
			if r[0] < 0 || r[1] >= SlotCount || r[0] > r[1] {
				return nil, fmt.Errorf("%w: slot range %d-%d", ErrTopology, r[0], r[1])
			}
			for slot := r[0]; slot <= r[1]; slot++ {
				t.slots[slot] = int16(i)
			}
		}
	}
	return t, nil
}

// parseShards parses CLUSTER SHARDS (Redis 7): a list of shards, each a map
// with "slots" (start, end pairs) and "nodes" (maps with ip, endpoint,
// port, tls-port, role, health). from is the address of the node that
// answered: an endpoint of "?" or "" means "the host you asked". tls says
// the client speaks TLS: a node's "tls-port" is then its address (a
// cluster with tls-cluster reports its plain port, if it has one, as
// "port"), and its "port" only when it has no "tls-port".
//
// A shard's master is its node with the role "master" that is not
// failed; a failed one only when it is the shard's only master (from
// Redis 7.2 a failed old master stays in its shard after a failover, with
// the role "master" and the health "fail", beside the promoted replica).
// A shard that serves slots but names no master with an address is an
// error: routing its slots anywhere would be wrong. A shard that serves
// none (a master just added, or emptied by a reshard) is kept, so that
// fan-out reaches every master, unless its master has failed (a dead
// node, or, before Redis 7.2, an old master a failover replaced) or is
// already another shard's (a node still in handshake, say).
func parseShards(v resp.Value, from string, tls bool) (*topology, error) {
	if v.Type != resp.TypeArray && v.Type != resp.TypeSet {
		return nil, fmt.Errorf("%w: CLUSTER SHARDS replied %v", ErrTopology, v.Type)
	}
	var shards []*shard
	for _, sv := range v.Elems {
		s := &shard{}
		slots := field(sv, "slots")
		for i := 0; i+1 < len(slots.Elems); i += 2 {
			s.ranges = append(s.ranges, [2]int{int(slots.Elems[i].Int), int(slots.Elems[i+1].Int)})
		}
		var failedMaster string
		for _, nv := range field(sv, "nodes").Elems {
			port := field(nv, "port").Int
			if tp := field(nv, "tls-port").Int; tls && tp > 0 {
				port = tp
			}
			addr := nodeAddr(field(nv, "endpoint").Str, field(nv, "ip").Str, int(port), from)
			if addr == "" {
				continue
			}
			health := field(nv, "health").Str
			switch field(nv, "role").Str {
			case "master":
				if health == "fail" {
					failedMaster = addr
				} else {
					s.master = addr
				}
			default:
				switch health {
				case "online":
					s.replicas = append(s.replicas, addr)
				case "loading":
					s.standby = append(s.standby, addr)
				} // "fail": neither
			}
		}
		if s.master == "" {
			if len(s.ranges) == 0 {
				continue // no master, or only a failed one: nothing to reach
			}
			s.master = failedMaster
		}
		if s.master == "" {
			hint := ""
			if !tls {
				hint = " (TLS-only nodes report no plain port: set Config.TLS)"
			}
			return nil, fmt.Errorf("%w: %s says slots %d-%d have no master with a port%s", ErrTopology, from,
				s.ranges[0][0], s.ranges[0][1], hint)
		}
		sort.Strings(s.replicas)
		sort.Strings(s.standby)
		shards = append(shards, s)
	}
	return newTopology(dropDuplicateSlotless(shards))
}

// dropDuplicateSlotless drops the shards that serve no slots and whose
// master is another shard's too (a node listed twice: during a handshake,
// a node may list the same address under a temporary ID).
func dropDuplicateSlotless(shards []*shard) []*shard {
	serving := map[string]bool{}
	for _, s := range shards {
		if len(s.ranges) > 0 {
			serving[s.master] = true
		}
	}
	seen := map[string]bool{}
	return slices.DeleteFunc(shards, func(s *shard) bool {
		if len(s.ranges) > 0 {
			return false
		}
		dup := serving[s.master] || seen[s.master]
		seen[s.master] = true
		return dup
	})
}

// parseSlots parses CLUSTER SLOTS (before Redis 7): a list of [start, end,
// master, replicas...], each node [ip, port, id, ...]. Masters that serve
// no slots are not in it.
func parseSlots(v resp.Value, from string) (*topology, error) {
	if v.Type != resp.TypeArray {
		return nil, fmt.Errorf("%w: CLUSTER SLOTS replied %v", ErrTopology, v.Type)
	}
	byMaster := map[string]*shard{}
	var shards []*shard
	for _, rv := range v.Elems {
		if len(rv.Elems) < 3 {
			continue
		}
		start, end := int(rv.Elems[0].Int), int(rv.Elems[1].Int)
		var addrs []string
		for _, nv := range rv.Elems[2:] {
			if len(nv.Elems) < 2 {
				continue
			}
			addrs = append(addrs, nodeAddr(nv.Elems[0].Str, nv.Elems[0].Str, int(nv.Elems[1].Int), from))
		}
		if len(addrs) == 0 || addrs[0] == "" {
			continue
		}
		s := byMaster[addrs[0]]
		if s == nil {
			s = &shard{master: addrs[0]}
			for _, r := range addrs[1:] {
				if r != "" {
					s.replicas = append(s.replicas, r)
				}
			}
			sort.Strings(s.replicas)
			byMaster[addrs[0]] = s
			shards = append(shards, s)
		}
		s.ranges = append(s.ranges, [2]int{start, end})
	}
	return newTopology(shards)
}

// nodeAddr builds "host:port" from what the server says of a node: its
// preferred endpoint. Where that is unknown ("": the cluster runs with
// cluster-preferred-endpoint-type unknown-endpoint, behind a load balancer
// or NAT, say, or the node does not know its own address), the host of the
// node that answered, as the spec says, and only when that has none, the
// node's IP (which such a node announces for the cluster bus, not for
// clients). Where it is "?" (hostnames are preferred and the node has
// none), the node's IP.
func nodeAddr(endpoint, ip string, port int, from string) string {
	if port <= 0 {
		return ""
	}
	asked := ""
	if h, _, err := net.SplitHostPort(from); err == nil {
		asked = h
	}
	host := endpoint
	switch host {
	case "": // unknown (or the node does not know its own address)
		host = asked
		if host == "" {
			host = ip
		}
	case "?": // hostnames preferred, and the node has none: its IP
		host = ip
		if host == "" || host == "?" {
			host = asked
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// field returns the value of key in a RESP3 map (or a RESP2 flat list of
// keys and values).
func field(m resp.Value, key string) resp.Value {
	for i := 0; i+1 < len(m.Elems); i += 2 {
		if m.Elems[i].Str == key {
			return m.Elems[i+1]
		}
	}
	return resp.Value{}
}
