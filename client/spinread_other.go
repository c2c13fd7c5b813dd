//go:build !unix

package client

import (
	"io"
	"net"
)

// newSpinReader: without raw socket reads, the connection is read as it is.
func newSpinReader(nc net.Conn) io.Reader { return nc }
