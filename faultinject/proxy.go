package faultinject

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy is a fault-injecting TCP proxy. It accepts client connections on its
// listen address, dials its upstream address for each, and forwards bytes
// both ways through the toxics currently configured. All methods are safe for
// concurrent use, also while traffic flows.
type Proxy struct {
	seed int64  // immutable
	logf Logger // immutable, never nil
	addr string // immutable: the bound listen address, reused by RefuseNew(false)

	ctx    context.Context    // canceled by Close; parent of every link's context
	cancel context.CancelFunc // immutable
	wg     sync.WaitGroup     // every goroutine the proxy starts; Add only under mu while !closed

	accepted atomic.Int64               // connections accepted
	counts   [numDirections]dirCounters // byte counters per direction

	// snaps holds the current toxic set of each direction. Written under mu
	// (publishLocked); read lock-free by the forwarding goroutines.
	snaps [numDirections]atomic.Pointer[snapshot]

	mu        sync.Mutex
	upstream  string             // guarded by mu
	ln        net.Listener       // guarded by mu; nil while refusing or closed
	lnDone    chan struct{}      // guarded by mu; closed when ln's accept loop has returned
	toxics    []*toxicEntry      // guarded by mu; in application order
	nextID    uint64             // guarded by mu; id of the next toxic entry
	paused    bool               // guarded by mu
	conns     map[*link]struct{} // guarded by mu; links not yet finished
	nextIndex uint64             // guarded by mu; index of the next accepted connection
	closed    bool               // guarded by mu

	// afterWait, when not nil, is called by cutAll and RefuseNew(true)
	// after their wait and before they log. Tests only: set before the
	// calls, it lets a test close the proxy at that moment.
	afterWait func()
}

// New starts a proxy listening on listen (host:port; port 0 picks a free
// port, see Addr) that forwards every accepted connection to upstream. The
// upstream address is dialed once per client connection, when it is
// accepted; if that dial fails the client connection is closed. Call Close
// when done.
func New(listen, upstream string, opts ...Option) (*Proxy, error) {
	cfg := newConfig(opts)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultinject: listen on %s: %w", listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		seed:     cfg.seed,
		logf:     cfg.logf,
		addr:     ln.Addr().String(),
		ctx:      ctx,
		cancel:   cancel,
		upstream: upstream,
		conns:    make(map[*link]struct{}),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.publishLocked()
	p.serveLocked(ln)
	return p, nil
}

// Addr returns the address the proxy listens on, such as "127.0.0.1:40123".
// It does not change, also across RefuseNew.
func (p *Proxy) Addr() string { return p.addr }

// Seed returns the seed of the proxy's randomness (see WithSeed).
func (p *Proxy) Seed() int64 { return p.seed }

// Upstream returns the address new connections are forwarded to.
func (p *Proxy) Upstream() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upstream
}

// SetUpstream changes the address that connections accepted from now on are
// forwarded to, for example after the server restarted on another port.
// Connections already open keep their server.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstream = addr
}

// Conns returns the number of client connections that are open: accepted
// and not yet completely closed on both sides.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Accepted:   p.accepted.Load(),
		Active:     p.Conns(),
		Upstream:   p.counts[Upstream].load(),
		Downstream: p.counts[Downstream].load(),
	}
}

// CutAll closes every open connection now, both the client and the server
// side, with a normal close (FIN; the kernel sends RST instead if data the
// proxy has not read yet is pending). Data held by toxics is dropped. New
// connections are still accepted; see RefuseNew to stop them. CutAll returns
// when the closed connections are gone.
func (p *Proxy) CutAll() { p.cutAll(closeNormal) }

// ResetAll is CutAll with a TCP RST to every client (SO_LINGER 0), so that
// the client's next read or write fails with ECONNRESET.
func (p *Proxy) ResetAll() { p.cutAll(closeResetClient) }

// cutAll shuts down every link with how and waits until they are gone.
func (p *Proxy) cutAll(how closeHow) {
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.shutdown(how)
	}
	for _, l := range links {
		<-l.finished
	}
	if p.afterWait != nil {
		p.afterWait()
	}
	if len(links) > 0 {
		p.logLive("faultinject %s: cut %d connection(s)", p.addr, len(links))
	}
}

// logLive logs an event of a call that logs on its caller's goroutine after
// a wait without p.mu (cutAll, RefuseNew), that is outside the goroutines
// Close waits for: it logs under p.mu and only while the proxy is not
// closed, so that the Logger is never called once Close has returned.
func (p *Proxy) logLive(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.logf(format, args...)
	}
}

// Pause stops forwarding bytes in both directions on every connection, open
// or future, without closing anything: bytes read by the proxy are held
// (and, once the proxy holds 8 MiB per connection and direction, the senders
// are blocked by TCP flow control). An orderly close (end of file) from
// either side is held too, behind the bytes before it. Resume forwards
// everything held, in order. Only the orderly close is held: a reset or
// read error on either side (which waits only behind bytes that side sent
// before it), a failed write, a ResetPeer toxic's timeout, CutAll, ResetAll
// and Close tear the connection down even while paused, and the bytes held
// for it are dropped.
func (p *Proxy) Pause() { p.setPaused(true) }

// Resume undoes Pause.
func (p *Proxy) Resume() { p.setPaused(false) }

// Paused reports whether the proxy is paused.
func (p *Proxy) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *Proxy) setPaused(paused bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.paused == paused {
		return
	}
	p.paused = paused
	p.publishLocked()
}

// Close stops the listener, closes every connection and waits for every
// goroutine the proxy started. It is idempotent and always returns nil; the
// error result is there for io.Closer.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	p.cancel()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.shutdown(closeNormal)
	}
	p.wg.Wait()
	return nil
}
