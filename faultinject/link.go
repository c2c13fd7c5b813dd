package faultinject

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// dialTimeout bounds the dial of the upstream server for one connection.
const dialTimeout = 10 * time.Second

// closeHow says how a link's sockets are closed.
type closeHow uint8

const (
	// closeNormal closes both sockets normally (FIN).
	closeNormal closeHow = iota
	// closeResetClient sends RST to the client and closes the server normally.
	closeResetClient
	// closeResetServer sends RST to the server and closes the client normally.
	closeResetServer
)

// link is one proxied connection: the accepted client socket, the dialed
// server socket and the goroutines between them.
//
// Goroutines of a link, all counted in the proxy's WaitGroup through run:
// run itself (dials, then waits), one reader and one forwarder per
// direction, and the AfterFunc callbacks of ResetPeer timers (counted in
// timers, waited for by run).
type link struct {
	p        *Proxy
	index    uint64             // immutable: order of acceptance, 0 first
	client   net.Conn           // immutable
	upstream string             // immutable: the address to dial
	ctx      context.Context    // immutable; canceled by shutdown
	cancel   context.CancelFunc // immutable
	finished chan struct{}      // closed by run when every goroutine of the link has ended
	timers   sync.WaitGroup     // running or pending ResetPeer callbacks

	// limited is set, once, when a LimitData toxic ends the link: its
	// direction + 1. From then on the other direction drops what it reads
	// (see endAtLimit). limitedCh is closed at the same moment, to end
	// that direction's waits.
	limited   atomic.Int32
	limitedCh chan struct{}

	mu     sync.Mutex
	server net.Conn               // guarded by mu; nil until dialed
	closed bool                   // guarded by mu; set by shutdown
	resets map[uint64]*resetTimer // guarded by mu; ResetPeer timers by toxic id
}

// resetTimer is a pending ResetPeer on one link.
type resetTimer struct {
	since   time.Time     // when the toxic began to apply to the link
	timeout time.Duration // the toxic's Timeout the timer was set for
	timer   *time.Timer
}

func newLink(p *Proxy, index uint64, client net.Conn, upstream string) *link {
	ctx, cancel := context.WithCancel(p.ctx)
	return &link{
		p:         p,
		index:     index,
		client:    client,
		upstream:  upstream,
		ctx:       ctx,
		cancel:    cancel,
		finished:  make(chan struct{}),
		limitedCh: make(chan struct{}),
		resets:    make(map[uint64]*resetTimer),
	}
}

// run dials the server, forwards both directions until they are done, and
// cleans up. It is started by startLink.
func (l *link) run() {
	defer l.p.wg.Done()
	defer close(l.finished)
	defer l.p.removeLink(l)
	defer l.stopResets()
	defer l.shutdown(closeNormal)

	dialer := net.Dialer{Timeout: dialTimeout}
	server, err := dialer.DialContext(l.ctx, "tcp", l.upstream)
	if err != nil {
		if l.ctx.Err() == nil {
			l.p.logf("faultinject %s: conn %d: dial upstream %s: %v", l.p.addr, l.index, l.upstream, err)
		}
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = server.Close()
		return
	}
	l.server = server
	l.mu.Unlock()
	l.p.logf("faultinject %s: conn %d: %s → %s", l.p.addr, l.index, l.client.RemoteAddr(), l.upstream)

	var readers, forwarders sync.WaitGroup
	for d := range Direction(numDirections) {
		src, dst := l.client, server
		if d == Downstream {
			src, dst = server, l.client
		}
		q := newChunkQueue()
		readers.Add(1)
		go func() {
			defer readers.Done()
			l.read(src, q, &l.p.counts[d])
		}()
		f := newForwarder(l, d, dst)
		forwarders.Add(1)
		go func() {
			defer forwarders.Done()
			l.finishDirection(d, f.run(q))
		}()
	}
	forwarders.Wait()
	l.shutdown(closeNormal)
	readers.Wait()
	l.p.logf("faultinject %s: conn %d closed", l.p.addr, l.index)
}

// finishDirection reacts to the end of one direction's forwarder.
func (l *link) finishDirection(d Direction, err error) {
	if l.limited.Load() != 0 {
		// The other direction reached a limit and this one was draining
		// the receiver: it has closed its side (or failed), so the link
		// can go.
		l.shutdown(closeNormal)
		return
	}
	resetSrc, resetDst := closeResetClient, closeResetServer
	if d == Downstream {
		resetSrc, resetDst = closeResetServer, closeResetClient
	}
	var se *sourceError
	switch {
	case err == nil, errors.Is(err, errLinkClosed):
		// The direction ended with a forwarded close, or someone else shut
		// the link down.
	case errors.Is(err, errLimit):
		l.p.logf("faultinject %s: conn %d: %s data limit reached, closing", l.p.addr, l.index, d)
		l.endAtLimit(d)
	case errors.As(err, &se) && isReset(err):
		// The source reset its connection: reset the destination too.
		l.shutdown(resetDst)
	case se == nil && isReset(err):
		// The destination reset its connection: reset the source too.
		l.shutdown(resetSrc)
	default:
		l.shutdown(closeNormal)
	}
}

// limitLinger bounds how long a link that reached a LimitData limit waits
// for the receiver to close its side (see endAtLimit).
const limitLinger = 2 * time.Second

// endAtLimit ends the link after direction d's LimitData limit, so that
// d's receiver gets exactly the bytes let through and then end of file.
// Closing its socket at once would not do that: whatever the receiver
// sends meanwhile (a client's next pipelined command, say) would sit
// unread in the proxy's socket, and closing a socket with unread data
// sends an RST, which throws away the bytes not yet delivered. So the
// sender's socket is closed at once, the receiver's is half-closed (end
// of file after the bytes already written), and the other direction
// reads and drops what the receiver sends until it closes its side; then,
// or after limitLinger, or at the link's shutdown, both are closed.
func (l *link) endAtLimit(d Direction) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	src, dst := l.client, l.server
	if d == Downstream {
		src, dst = l.server, l.client
	}
	tc, ok := dst.(*net.TCPConn)
	if !ok || tc.CloseWrite() != nil {
		l.mu.Unlock()
		l.shutdown(closeNormal)
		return
	}
	// Limited first: the other direction's write to src, failing once it
	// is closed, must find it so, or it would shut the link down.
	l.limited.Store(int32(d) + 1)
	close(l.limitedCh)
	_ = src.Close()
	l.mu.Unlock()

	t := time.NewTimer(limitLinger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.ctx.Done():
	}
	l.shutdown(closeNormal)
}

// shutdown closes both sockets (how says which one gets an RST) and stops
// every goroutine of the link. Only the first call has an effect.
func (l *link) shutdown(how closeHow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.cancel()
	if how == closeResetClient {
		setLingerZero(l.client)
	}
	_ = l.client.Close()
	if l.server != nil {
		if how == closeResetServer {
			setLingerZero(l.server)
		}
		_ = l.server.Close()
	}
}

// isReset reports whether err says that the peer reset the connection.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// setLingerZero makes the next Close of c send RST.
func setLingerZero(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// syncResets starts, reschedules or stops the link's ResetPeer timers to
// match toxics, the proxy's full toxic list. l.p.mu must be held.
func (l *link) syncResets(toxics []*toxicEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	now := time.Now()
	live := make(map[uint64]bool)
	for _, e := range toxics {
		rp, ok := e.toxic.(ResetPeer)
		if !ok || !applies(l.p.seed, l.index, e.name, e.toxicity) {
			continue
		}
		live[e.id] = true
		r := l.resets[e.id]
		switch {
		case r == nil:
			r = &resetTimer{since: now}
			l.resets[e.id] = r
		case r.timeout == rp.Timeout:
			continue
		default:
			if r.timer.Stop() {
				l.timers.Done()
			}
		}
		r.timeout = rp.Timeout
		name := e.name
		l.timers.Add(1)
		r.timer = time.AfterFunc(max(0, time.Until(r.since.Add(rp.Timeout))), func() {
			defer l.timers.Done()
			l.p.logf("faultinject %s: conn %d: reset_peer %q fired", l.p.addr, l.index, name)
			l.shutdown(closeResetClient)
		})
	}
	for id, r := range l.resets {
		if !live[id] {
			if r.timer.Stop() {
				l.timers.Done()
			}
			delete(l.resets, id)
		}
	}
}

// stopResets stops every ResetPeer timer and waits for running callbacks.
// The link is already shut down, so no timer is added afterwards.
func (l *link) stopResets() {
	l.mu.Lock()
	for id, r := range l.resets {
		if r.timer.Stop() {
			l.timers.Done()
		}
		delete(l.resets, id)
	}
	l.mu.Unlock()
	l.timers.Wait()
}
