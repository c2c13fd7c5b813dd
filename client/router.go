package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/justredis/justredis/resp"
)

// NoSlot is the hash slot of a command without keys, and of every command
// when the Mux is not sharded.
const NoSlot = -1

// Router decides which server runs each command. A Mux made by New has a
// single server (its Endpoints tried in order); cluster.New plugs in a Redis
// Cluster router. The client does the rest, the same for every router:
// finding keys (CommandInfo.Keys, COMMAND GETKEYS), following MOVED and ASK
// (ASK with ASKING sent back-to-back with the command), pausing on TRYAGAIN,
// CLUSTERDOWN and LOADING, and re-routing requests that provably were not
// sent when a server fails. Implementations must be safe for concurrent use.
type Router interface {
	// Sharded reports whether commands are spread over servers by hash
	// slot: only then are keys looked for, KeySlot called, and databases
	// other than 0 refused.
	Sharded() bool
	// KeySlot returns the hash slot of one key (hash tags included). The
	// client checks that a command's keys share one slot (ErrCrossSlot).
	KeySlot(key string) int
	// Node returns the server for slot (NoSlot: any primary). readOnly says
	// the command does not write, so a replica may serve it.
	Node(ctx context.Context, slot int, readOnly bool) (*Node, error)
	// Moved is told that a MOVED reply said slot is served at addr; the
	// client has re-sent there. Moved and Trouble may be called by the
	// client's I/O goroutines: they must not block.
	Moved(slot int, addr string)
	// Trouble is told of signs that the topology changed: n's connection
	// failed or could not be made, or n replied CLUSTERDOWN or TRYAGAIN;
	// or n, serving reads as a replica (SetReadOnly), replied LOADING: the
	// read is then routed again at once, and should not go back to n.
	Trouble(n *Node, err error)
	// Close releases the router's resources; Mux.Close calls it first.
	Close()
}

// NewWithRouter returns a Mux whose commands are routed by the Router that
// newRouter returns. Config.Endpoints are the router's to interpret (for a
// cluster: seed nodes). It is how cluster.New builds a cluster client.
func NewWithRouter(cfg Config, newRouter func(*Mux) (Router, error)) (*Mux, error) {
	m, err := makeMux(cfg)
	if err != nil {
		return nil, err
	}
	r, err := newRouter(m)
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	m.router = r
	return m, nil
}

// singleRouter is the router of a Mux made by New.
type singleRouter struct{ n *Node }

func (r singleRouter) Sharded() bool                                  { return false }
func (r singleRouter) KeySlot(string) int                             { return NoSlot }
func (r singleRouter) Node(context.Context, int, bool) (*Node, error) { return r.n, nil }
func (r singleRouter) Moved(int, string)                              {}
func (r singleRouter) Trouble(*Node, error)                           {}
func (r singleRouter) Close()                                         {}

// Router returns the Mux's router (for cluster helpers).
func (m *Mux) Router() Router { return m.router }

// Node returns the node for addr ("host:port"), creating it (without
// connecting) if the Mux does not know it yet. Routers use it to name the
// servers they route to; it returns nil after Close.
func (m *Mux) Node(addr string) *Node {
	m.nodesMu.Lock()
	defer m.nodesMu.Unlock()
	if m.closed.Load() {
		return nil
	}
	if n := m.nodes[addr]; n != nil {
		return n
	}
	ep, err := parseEndpoint(addr)
	if err != nil {
		ep = endpoint{network: "tcp", addr: addr}
	}
	n := newNode(m, []endpoint{ep})
	m.nodes[addr] = n
	return n
}

// Nodes returns every node the Mux knows, sorted by address.
func (m *Mux) Nodes() []*Node {
	m.nodesMu.Lock()
	defer m.nodesMu.Unlock()
	out := make([]*Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr() < out[j].Addr() })
	return out
}

// Addr returns the node's address ("host:port", or "unix:/path").
func (n *Node) Addr() string { return n.addr() }

// Do runs a command on this node's shared connection: no routing and no
// redirects (a MOVED reply is returned as an error). For routers'
// topology queries, fan-out to every node, and pinning.
func (n *Node) Do(ctx context.Context, args ...any) (resp.Value, error) {
	return n.m.Database(0).With(Retries(0)).pinned(n).Do(ctx, args...)
}

// route picks the node for a request.
func (m *Mux) route(ctx context.Context, slot int, readOnly bool) (*Node, error) {
	n, err := m.router.Node(ctx, slot, readOnly)
	if err == nil && n == nil {
		err = errors.New("client: the router found no server")
	}
	return n, err
}

// keysOf returns a command's keys, asking the server (COMMAND GETKEYS) when
// the client's own key specs cannot tell. When that question fails, the
// error is a *RequestError saying the command was not sent (whatever
// became of the question: that is not the caller's command).
func (m *Mux) keysOf(ctx context.Context, ci *CommandInfo, args []any) ([]string, error) {
	return keysOf(ctx, m, ci, args, argText)
}

func keysOf[A any](ctx context.Context, m *Mux, ci *CommandInfo, args []A, text func(A) (string, bool)) ([]string, error) {
	keys, complete := findKeys(ci, args, text)
	if complete || ci == nil {
		return keys, nil
	}
	getkeys := []any{"COMMAND", "GETKEYS"}
	for _, a := range args {
		s, _ := text(a)
		getkeys = append(getkeys, s)
	}
	v, err := m.Database(0).With(Retries(1)).Do(ctx, getkeys...)
	if err != nil {
		if replyError(err) != nil {
			return nil, nil // the server finds no keys (or rejects the command: it will say so when run)
		}
		return nil, getKeysErr(err)
	}
	return Strings(v, nil)
}

// getKeysErr is the error of a command whose keys could not be found
// because COMMAND GETKEYS failed with err: the command was not sent. The
// cause is err's own (a *RequestError of err's, which may say MaybeSent of
// COMMAND GETKEYS, is not in the chain, so that MaybeExecuted is false);
// ctx errors and the like stay in it.
func getKeysErr(err error) error {
	cause, on := err, ""
	var re *RequestError
	if errors.As(err, &re) {
		cause = re.Err
		if re.Addr != "" {
			on = " on " + re.Addr
		}
	}
	return &RequestError{Exec: NotSent, Err: fmt.Errorf("finding the keys (COMMAND GETKEYS%s): %w", on, cause)}
}

// slotOf returns the hash slot of a command under a sharded router (NoSlot
// otherwise).
func slotOf[A any](ctx context.Context, m *Mux, ci *CommandInfo, args []A, text func(A) (string, bool)) (int, error) {
	if !m.router.Sharded() {
		return NoSlot, nil
	}
	if i := oneKey(ci); i > 0 && i < len(args) {
		// The common case (GET, SET, INCR, HSET, ...) needs no key list.
		if k, ok := text(args[i]); ok {
			return m.router.KeySlot(k), nil
		}
	}
	keys, err := keysOf(ctx, m, ci, args, text)
	if err != nil {
		return NoSlot, err
	}
	slot, err := m.slotOfKeys(keys, NoSlot, "")
	if err != nil {
		name, _ := text(args[0])
		return NoSlot, &CommandError{Command: name, Err: err}
	}
	return slot, nil
}

// slotOfKeys returns the one hash slot of keys under a sharded router
// (NoSlot for no keys, or when the router is not sharded), or an error
// wrapping ErrCrossSlot. A key already chosen (anchor, in slot) may be given
// for keys to join, as a transaction's later commands join its first.
func (m *Mux) slotOfKeys(keys []string, slot int, anchor string) (int, error) {
	if !m.router.Sharded() {
		return NoSlot, nil
	}
	for _, k := range keys {
		s := m.router.KeySlot(k)
		if slot == NoSlot {
			slot, anchor = s, k
			continue
		}
		if s != slot {
			return NoSlot, fmt.Errorf("%w: %q is in slot %d, %q in slot %d", ErrCrossSlot, anchor, slot, k, s)
		}
	}
	return slot, nil
}

// movedReply returns the MOVED redirection err holds, or nil.
func movedReply(err error) *resp.Error {
	var e *resp.Error
	if errors.As(err, &e) && e.Prefix == "MOVED" && e.IsRedirect() {
		return e
	}
	return nil
}

// redirectAddr turns a MOVED/ASK target into an address: an empty host
// means the host of the node that answered; IPv6 hosts come unbracketed.
func redirectAddr(target string, from *Node) string {
	i := strings.LastIndexByte(target, ':')
	if i < 0 {
		return target
	}
	host, port := target[:i], target[i+1:]
	if host == "" && from != nil {
		if h, _, err := net.SplitHostPort(from.Addr()); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}
