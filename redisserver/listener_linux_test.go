//go:build linux

package redisserver

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPortOwner(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	assert.Equal(t, portOwnerThisRun, portOwner(os.Getpid(), port))
	// A process that is not in our process group (nor leads it).
	s := Run(t, Options{Backend: BackendBinary})
	assert.Equal(t, portOwnerOther, portOwner(s.PID(), port))
	assert.Equal(t, portOwnerThisRun, portOwner(s.PID(), s.Port()))
	require.NoError(t, l.Close())
	assert.Equal(t, portOwnerNobody, portOwner(os.Getpid(), port))
}

func TestListenerInode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		line  string
		port  int
		inode string
		ok    bool
	}{
		{"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0", 8080, "123456", true},
		{"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0", 8081, "", false},
		// Established, not listening.
		{"   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 654321 1 0000000000000000 20 4 30 10 -1", 8080, "", false},
		{"  0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0", 8080, "777", true},
		{"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", 8080, "", false},
	} {
		inode, ok := listenerInode(tt.line, tt.port)
		assert.Equal(t, tt.ok, ok, tt.line)
		assert.Equal(t, tt.inode, inode, tt.line)
	}
	assert.Equal(t, 4242, statProcessGroup("4243 (a) b) c) S 1 4242 4242 0 -1"))
	assert.Equal(t, -1, statProcessGroup("garbage"))
}
