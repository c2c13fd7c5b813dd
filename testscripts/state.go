package testscripts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/clusterharness"
	"github.com/justredis/justredis/faultinject"
	"github.com/justredis/justredis/redisserver"
	"github.com/rogpeppe/go-internal/testscript"
)

// stateKey is the key of a script's *state in testscript.Env.Values.
type stateKey struct{}

// state is what one script started. Commands run one at a time on the
// script's goroutine, which owns every map here; background work (rblock,
// rsubscribe, rwatch, rload) runs on goroutines of its own that touch only
// their own values, and ends when the script's context does.
type state struct {
	workDir string
	ctx     context.Context    // ended by close: stops all background work
	cancel  context.CancelFunc // ends ctx

	// things that set $NAME_ADDR share one namespace: addrNames.
	addrNames map[string]string // name -> kind ("server", "cluster", "proxy")
	servers   map[string]*redisserver.Server
	clusters  map[string]*clusterEntry
	proxies   map[string]*faultinject.Proxy
	proxyLog  proxyLog // what the proxies log; its own mutex

	// ts is the script, set by every command of the package, for the
	// cleanup to flush proxyLog into; nil until the first one.
	ts *testscript.TestScript

	ca *certAuthority // the script's TLS CA, made by the first redis-start -tls

	muxes   map[string]*client.Mux    // by muxKey (connection options)
	muxList []*client.Mux             // in creation order, to close in reverse
	scripts map[string]*client.Script // rscript, by source

	blocks  map[string]*bgCall        // rblock
	subs    map[string]*client.PubSub // rsubscribe
	watches map[string]*watchOp       // rwatch
	loads   map[string]*load          // rload

	wg sync.WaitGroup // every background goroutine
}

// clusterEntry is a cluster and its migration in progress.
type clusterEntry struct {
	c   *clusterharness.Cluster
	mig *clusterharness.Migration // begun by cluster-migrate -begin, or nil
}

func newState(workDir string) *state {
	ctx, cancel := context.WithCancel(context.Background())
	return &state{
		workDir:   workDir,
		ctx:       ctx,
		cancel:    cancel,
		addrNames: map[string]string{},
		servers:   map[string]*redisserver.Server{},
		clusters:  map[string]*clusterEntry{},
		proxies:   map[string]*faultinject.Proxy{},
		muxes:     map[string]*client.Mux{},
		scripts:   map[string]*client.Script{},
		blocks:    map[string]*bgCall{},
		subs:      map[string]*client.PubSub{},
		watches:   map[string]*watchOp{},
		loads:     map[string]*load{},
	}
}

// claimAddrName reserves name for a thing that sets $NAME_ADDR.
func (st *state) claimAddrName(ts *testscript.TestScript, cmd, name, kind string) {
	if other, ok := st.addrNames[name]; ok {
		ts.Fatalf("%s: the name %s is taken (by a %s)", cmd, name, other)
	}
	st.addrNames[name] = kind
}

// go runs f on a background goroutine that close waits for.
func (st *state) goBackground(f func()) {
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		f()
	}()
}

// close ends everything the script started, the most dependent first:
// background work, subscribers, clients, proxies, clusters, servers. It
// returns the errors of the stops, for the log.
func (st *state) close() []error {
	var errs []error
	st.cancel() // background work ends with the script's context
	st.wg.Wait()
	for name, ps := range st.subs {
		if err := ps.Close(); err != nil && !errors.Is(err, client.ErrClosed) {
			errs = append(errs, fmt.Errorf("subscriber %s: %w", name, err))
		}
	}
	for _, m := range slices.Backward(st.muxList) {
		if err := m.Close(); err != nil {
			errs = append(errs, fmt.Errorf("client: %w", err))
		}
	}
	for _, p := range st.proxies {
		p.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), DefaultCleanupTimeout)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	stop := func(what string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				mu.Unlock()
			}
		}()
	}
	for name, ce := range st.clusters {
		stop("cluster "+name, ce.c.Stop)
	}
	for name, s := range st.servers {
		stop("server "+name, s.Stop)
	}
	wg.Wait()
	return errs
}
