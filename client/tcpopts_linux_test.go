package client

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/justredis/justredis/redisserver"
)

// sockopt reads one integer socket option of c.
func sockopt(t *testing.T, c *net.TCPConn, level, opt int) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil || serr != nil {
		t.Fatalf("getsockopt: %v, %v", err, serr)
	}
	return v
}

// The client set keep-alive on (300 s) and TCP_NODELAY on the connections a
// custom Dialer returned, over the Dialer's own settings; now it does so
// only when Config says so.
func TestCustomDialerKeepsItsTCPSettings(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	addr := serverAddr(t, srv)
	ctx := testCtx(t)
	dial := func(conns *[]*net.TCPConn, mu *sync.Mutex) DialFunc {
		return func(ctx context.Context, network, a string) (net.Conn, error) {
			d := net.Dialer{KeepAlive: -1} // keep-alive off
			c, err := d.DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			tc := c.(*net.TCPConn)
			_ = tc.SetNoDelay(false)
			mu.Lock()
			*conns = append(*conns, tc)
			mu.Unlock()
			return c, nil
		}
	}
	tests := []struct {
		name               string
		cfg                Config
		keepAlive, noDelay int
	}{
		{"Dialer's own", Config{}, 0, 0},
		{"set in Config", Config{TCPKeepAlive: 60e9, TCPNoDelay: ToggleOn}, 1, 1},
	}
	for _, tt := range tests {
		var conns []*net.TCPConn
		var mu sync.Mutex
		cfg := tt.cfg
		cfg.Endpoints, cfg.Dialer = []string{addr}, dial(&conns, &mu)
		m := newMux(t, cfg)
		if err := m.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		c := conns[0]
		mu.Unlock()
		if got := sockopt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); (got != 0) != (tt.keepAlive != 0) {
			t.Errorf("%s: SO_KEEPALIVE = %d, want %d", tt.name, got, tt.keepAlive)
		}
		if got := sockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); (got != 0) != (tt.noDelay != 0) {
			t.Errorf("%s: TCP_NODELAY = %d, want %d", tt.name, got, tt.noDelay)
		}
	}
}
