package faultinject

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// acceptRetryDelay is how long the accept loop backs off after an accept
// error other than a closed listener (such as running out of descriptors).
const acceptRetryDelay = 10 * time.Millisecond

// RefuseNew(true) takes the listener down: the listening socket is closed, so
// new connections are refused (the client's dial fails with ECONNREFUSED)
// while open connections carry on. RefuseNew(false) listens again on the same
// address; it fails if another process took the port meanwhile. Both are
// no-ops when already in the requested state. When RefuseNew(true) returns,
// the socket is closed and no further connection is accepted.
func (p *Proxy) RefuseNew(refuse bool) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if refuse {
		if p.ln == nil {
			p.mu.Unlock()
			return nil
		}
		// Close under mu so that a concurrent RefuseNew(false) cannot try to
		// bind the address before it is free.
		_ = p.ln.Close()
		p.ln = nil
		done := p.lnDone
		p.mu.Unlock()
		<-done
		if p.afterWait != nil {
			p.afterWait()
		}
		p.logLive("faultinject %s: refusing new connections", p.addr)
		return nil
	}
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultinject: listen again on %s: %w", p.addr, err)
	}
	p.serveLocked(ln)
	p.logf("faultinject %s: accepting new connections", p.addr)
	return nil
}

// Refusing reports whether new connections are refused (RefuseNew(true)).
func (p *Proxy) Refusing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln == nil && !p.closed
}

// serveLocked makes ln the proxy's listener and starts its accept loop.
// p.mu must be held and the proxy not closed.
func (p *Proxy) serveLocked(ln net.Listener) {
	done := make(chan struct{})
	p.ln, p.lnDone = ln, done
	p.wg.Add(1)
	go p.acceptLoop(ln, done)
}

// acceptLoop accepts connections from ln until it is closed.
func (p *Proxy) acceptLoop(ln net.Listener, done chan<- struct{}) {
	defer p.wg.Done()
	defer close(done)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.logf("faultinject %s: accept: %v", p.addr, err)
			t := time.NewTimer(acceptRetryDelay)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		p.startLink(c)
	}
}

// startLink registers an accepted client connection and starts its goroutine.
func (p *Proxy) startLink(client net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = client.Close()
		return
	}
	p.accepted.Add(1)
	l := newLink(p, p.nextIndex, client, p.upstream)
	p.nextIndex++
	p.conns[l] = struct{}{}
	l.syncResets(p.toxics)
	p.wg.Add(1)
	go l.run()
}

// removeLink forgets a finished link.
func (p *Proxy) removeLink(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, l)
}
