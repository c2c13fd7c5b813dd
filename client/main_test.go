package client

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/justredis/justredis/faultinject"
	"github.com/justredis/justredis/redisserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// SlicerEnv, set to 1, runs the client tests through a fault-injecting proxy
// that splits every write, in both directions, into 1-byte pieces (see
// serverAddr): the suite must pass unchanged when the client's reads return
// whatever few bytes have arrived, and when its writes reach the server a
// byte at a time.
//
//	JUSTREDIS_SLICER=1 go test -race ./client/
const slicerEnv = "JUSTREDIS_SLICER"

// slicing reports whether the tests run through the 1-byte slicer.
var slicing = os.Getenv(slicerEnv) == "1"

// scale multiplies the counts (goroutines, operations) of the heavy tests:
// 1 normally; under the slicer, where every byte costs the proxy a write of
// its own (about 75 KB/s under -race), their shape is kept and their size
// cut (10,000 goroutines become 300) so that the whole package still runs
// in a couple of minutes.
var scale = func() float64 {
	if slicing {
		return 0.03
	}
	return 1
}()

// scaled returns n multiplied by scale, at least 1.
func scaled(n int) int {
	return max(1, int(float64(n)*scale))
}

// slowLink is how much longer the handshake of a connection through the
// slicer can take than a direct one: the first connection of each Mux reads
// the server's COMMAND table (about 90 KB, over a second at 1 byte per
// write). Tests that set a short ConnectTimeout multiply it by slowLink; it
// is 1 normally.
var slowLink = func() time.Duration {
	if slicing {
		return 10
	}
	return 1
}()

// startServer starts a private redis-server for the test (stopped at its end).
func startServer(t testing.TB, opts redisserver.Options) *redisserver.Server {
	t.Helper()
	return redisserver.Run(t, opts)
}

// serverAddr is the address a client test dials to reach srv: srv.Addr(),
// or, under JUSTREDIS_SLICER=1, a faultinject proxy in front of it (closed
// at the end of the test) that slices both directions into 1-byte pieces.
// The proxy dials srv's port for each connection, so tests that kill,
// restart or pause srv work through it unchanged. Tests that cannot use a
// TCP proxy dial directly and say why: fake servers over net.Pipe, unix
// sockets, an endpoint that must refuse connections.
func serverAddr(t testing.TB, srv *redisserver.Server) string {
	t.Helper()
	if !slicing {
		return srv.Addr()
	}
	p, err := faultinject.New("127.0.0.1:0", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	for _, dir := range []faultinject.Direction{faultinject.Upstream, faultinject.Downstream} {
		if err := p.AddToxic("slicer "+dir.String(), dir, faultinject.Slicer{AverageSize: 1}, 1); err != nil {
			t.Fatal(err)
		}
	}
	return p.Addr()
}

// serverMux starts a private redis-server with default options and
// returns it with a Mux (default Config) connected to it (through
// serverAddr); both are closed at the end of the test.
func serverMux(t testing.TB) (*redisserver.Server, *Mux) {
	t.Helper()
	srv := startServer(t, redisserver.Options{})
	return srv, newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
}

// newMux returns a Mux connected to addr, closed at the end of the test.
func newMux(t testing.TB, cfg Config) *Mux {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// testCtx is a context that ends well before the test binary's timeout.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
