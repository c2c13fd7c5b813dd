//go:build unix

package client

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// errPeekData: bytes arrived that nobody asked for.
var errPeekData = errors.New("client: unsolicited data on an idle connection")

// canPeek reports whether peeker.closed works on nc.
func canPeek(nc net.Conn) bool { return plainSocket(nc) }

// peeker looks at an idle socket without reading it; one per connection,
// so that looking allocates nothing.
type peeker struct {
	raw syscall.RawConn
	n   int
	err error
	b   [1]byte
	fn  func(fd uintptr) bool
}

func newPeeker(nc net.Conn) *peeker {
	raw, ok := rawSocket(nc)
	if !ok {
		return nil
	}
	p := &peeker{raw: raw}
	p.fn = p.peek
	return p
}

func (p *peeker) peek(fd uintptr) bool {
	p.n, _, p.err = syscall.Recvfrom(int(fd), p.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// closed reports whether the peer of an idle connection has closed it
// (true), or sent data (errPeekData), without reading or waiting.
func (p *peeker) closed() (bool, error) {
	if p == nil {
		return false, nil
	}
	if err := p.raw.Read(p.fn); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false, nil // a deadline left on the socket says nothing of the peer
		}
		return true, nil
	}
	switch {
	case p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK:
		return false, nil // nothing to read: alive
	case p.err != nil:
		return true, nil
	case p.n == 0:
		return true, nil // EOF
	}
	return false, errPeekData
}
