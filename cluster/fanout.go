package cluster

import (
	"context"
	"errors"
	"sort"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
)

// ErrNotCluster: a helper of this package was given a Mux that New did not
// make.
var ErrNotCluster = errors.New("cluster: not a cluster client (make it with cluster.New)")

// routerOf returns the cluster router of m.
func routerOf(m *client.Mux) (*router, error) {
	r, ok := m.Router().(*router)
	if !ok {
		return nil, ErrNotCluster
	}
	return r, nil
}

// Masters returns the addresses of the cluster's masters, as the client
// currently sees them (endpoints() in Python justredis), refreshing the
// view first. Masters that serve no slots (one just added, or emptied by a
// reshard) are among them; failed ones are not. (Before Redis 7, whose
// CLUSTER SLOTS names only the masters that serve slots, those are all it
// can see.)
func Masters(ctx context.Context, m *client.Mux) ([]string, error) {
	r, err := routerOf(m)
	if err != nil {
		return nil, err
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	t := r.topo.Load()
	out := make([]string, 0, len(t.shards))
	for _, s := range t.shards {
		out = append(out, s.master)
	}
	sort.Strings(out)
	return out, nil
}

// Result is one node's answer to a command run on every master.
type Result struct {
	Addr  string     // the master's address
	Value resp.Value // its reply, as Do returns it
	Err   error      // as Do returns it: an error reply (*resp.Error) or a failure to get a reply
}

// DoOnMasters runs a command on every master that Masters lists,
// concurrently (run_commandreply_on_all_masters in Python justredis):
// FLUSHALL, SCRIPT LOAD, DBSIZE, KEYS... It returns one Result per master,
// sorted by address; each has its own error. The error return is for failing
// to learn the masters at all.
func DoOnMasters(ctx context.Context, m *client.Mux, args ...any) ([]Result, error) {
	masters, err := Masters(ctx, m)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(masters))
	done := make(chan struct{}, len(masters))
	for i, addr := range masters {
		go func() {
			defer func() { done <- struct{}{} }()
			out[i].Addr = addr
			n := m.Node(addr)
			if n == nil {
				out[i].Err = client.ErrClosed
				return
			}
			out[i].Value, out[i].Err = n.Do(ctx, args...)
		}()
	}
	for range masters {
		<-done
	}
	return out, nil
}
