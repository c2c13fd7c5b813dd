//go:build !unix

package client

import (
	"errors"
	"net"
)

var errPeekData = errors.New("client: unsolicited data on an idle connection")

// canPeek: without a way to look at an idle socket, connections are
// pipelined from the start.
func canPeek(net.Conn) bool { return false }

type peeker struct{}

func newPeeker(net.Conn) *peeker { return nil }

func (p *peeker) closed() (bool, error) { return false, nil }
