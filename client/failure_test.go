package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// incrLoad runs INCRs on one key from several goroutines until stop is
// closed, and counts how each ended.
type incrLoad struct {
	acked, maybe, notSent, other atomic.Int64
	firstOther                   atomic.Value
	wg                           sync.WaitGroup
}

func startIncrLoad(ctx context.Context, db Database, key string, workers int, stop <-chan struct{}) *incrLoad {
	l := &incrLoad{}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := db.Do(opCtx, "INCR", key)
				cancel()
				switch {
				case err == nil:
					l.acked.Add(1)
				case MaybeExecuted(err):
					l.maybe.Add(1)
				case NotExecuted(err):
					l.notSent.Add(1)
				default:
					l.other.Add(1)
					l.firstOther.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	return l
}

// The server is killed under load and restarted on the same port (with an
// fsync-always AOF, so acknowledged writes survive). Every INCR's error says
// whether it may have run, and the final count proves the labels honest:
// acknowledged <= count <= acknowledged + maybe-executed. The same Mux then
// works again.
func TestServerKilledMidFlight(t *testing.T) {
	srv := startServer(t, redisserver.Options{Config: []string{"appendonly yes", "appendfsync always"}})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, ConnectTimeout: slowLink * time.Second, ConnectRetry: 2})
	ctx := testCtx(t)
	db := m.Database(0)
	stop := make(chan struct{})
	load := startIncrLoad(ctx, db, "counter", 32, stop)
	waitFor(t, "load to start", func() bool { return load.acked.Load() > 500 })
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failures to be reported", func() bool { return load.maybe.Load()+load.notSent.Load() > 0 })
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	ackedAtRestart := load.acked.Load()
	waitFor(t, "the client to recover", func() bool { return load.acked.Load() > ackedAtRestart+500 })
	close(stop)
	load.wg.Wait()

	if n := load.other.Load(); n > 0 {
		t.Fatalf("%d errors said neither NotExecuted nor MaybeExecuted, e.g. %v", n, load.firstOther.Load())
	}
	count, err := Int64(db.Do(ctx, "GET", "counter"))
	if err != nil {
		t.Fatal(err)
	}
	acked, maybe := load.acked.Load(), load.maybe.Load()
	t.Logf("acknowledged %d, maybe executed %d, not executed %d, final count %d", acked, maybe, load.notSent.Load(), count)
	if count < acked || count > acked+maybe {
		t.Fatalf("count %d outside [acknowledged %d, acknowledged+maybe %d]", count, acked, acked+maybe)
	}
}

// A GET (read-only) survives a restart transparently; an INCR in flight
// does not, and says so.
func TestServerRestartedSamePort(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "k", "before"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The shared connection died with the old process; the next command
	// finds that out (at worst after sending) and, being read-only, is
	// re-sent on a new connection. Data is gone: no persistence.
	v, err := db.Do(ctx, "GET", "k")
	if err != nil || !v.IsNull() {
		t.Fatalf("GET after restart = %v, %v; want null", v, err)
	}
	if _, err := db.Do(ctx, "SET", "k", "after"); err != nil {
		t.Fatal(err)
	}
	if s, err := String(db.Do(ctx, "GET", "k")); err != nil || s != "after" {
		t.Fatalf("GET = %q, %v", s, err)
	}
}

// A paused server (the process stops, the kernel still accepts): commands
// waiting on it fail after SocketTimeout, and a write says MaybeExecuted.
func TestServerPausedSocketTimeout(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	const timeout = 400 * time.Millisecond
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, SocketTimeout: timeout,
		ConnectTimeout: slowLink * timeout, ConnectRetry: 1})
	ctx := testCtx(t)
	db := m.Database(0).With(Retries(0))
	if err := m.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := db.Do(ctx, "INCR", "n")
	elapsed := time.Since(start)
	if !errors.Is(err, ErrSocketTimeout) || !MaybeExecuted(err) {
		t.Fatalf("INCR on a paused server: %v; want ErrSocketTimeout, MaybeExecuted", err)
	}
	if elapsed < timeout || elapsed > 3*timeout+time.Second {
		t.Fatalf("failed after %v; SocketTimeout is %v", elapsed, timeout)
	}
	t.Logf("socket timeout fired after %v (SocketTimeout %v)", elapsed, timeout)
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if n, err := Int64(db.Do(ctx, "INCR", "n")); err != nil || n < 1 {
		t.Fatalf("after Resume: %d, %v", n, err)
	}
}

func TestAuthentication(t *testing.T) {
	srv := startServer(t, redisserver.Options{
		Password: "s3cret",
		Users:    []redisserver.User{{Name: "app", Password: "apppass"}, {Name: "open"}}, // open: nopass
	})
	ctx := testCtx(t)
	for _, tt := range []struct {
		name       string
		user, pass string
		proto      int
		ok         bool
		prefix     string
	}{
		{"no password", "", "", 0, false, "NOAUTH"},
		{"wrong password", "", "nope", 0, false, "WRONGPASS"},
		{"wrong password RESP2", "", "nope", 2, false, "WRONGPASS"},
		{"right password", "", "s3cret", 0, true, ""},
		{"right password RESP2", "", "s3cret", 2, true, ""},
		{"ACL user", "app", "apppass", 0, true, ""},
		{"ACL user RESP2", "app", "apppass", 2, true, ""},
		{"ACL user wrong password", "app", "s3cret", 0, false, "WRONGPASS"},
		{"ACL nopass user", "open", "", 0, true, ""},
		{"ACL nopass user RESP2", "open", "", 2, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: tt.user, Password: tt.pass,
				Protocol: tt.proto, ConnectRetry: 5})
			start := time.Now()
			_, err := m.Database(0).Do(ctx, "SET", "k", "v")
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if who, err := m.Database(0).Do(ctx, "ACL", "WHOAMI"); err != nil || who.Str != orString(tt.user, "default") {
					t.Fatalf("ACL WHOAMI = %q, %v; want %q", who.Str, err, orString(tt.user, "default"))
				}
				return
			}
			if !errors.Is(err, ErrAuth) || !NotExecuted(err) || resp.ErrorPrefix(err) != tt.prefix {
				t.Fatalf("got %v; want ErrAuth with %s", err, tt.prefix)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("authentication failure took %v: redialling with backoff?", time.Since(start))
			}
		})
	}
}

func TestUnixSocket(t *testing.T) {
	srv := startServer(t, redisserver.Options{UnixSocket: true})
	if srv.UnixSocket() == "" {
		t.Fatal("no unix socket")
	}
	// A unix socket: no TCP proxy in between, also under the slicer.
	m := newMux(t, Config{Endpoints: []string{"unix:" + srv.UnixSocket()}})
	ctx := testCtx(t)
	if _, err := m.Database(0).Do(ctx, "SET", "k", "over unix"); err != nil {
		t.Fatal(err)
	}
	if s, err := String(m.Database(0).Do(ctx, "GET", "k")); err != nil || s != "over unix" {
		t.Fatalf("GET = %q, %v", s, err)
	}
}

// Endpoints are tried in order: a dead first endpoint is skipped.
func TestEndpointsTriedInOrder(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	dead := startServer(t, redisserver.Options{})
	deadAddr := dead.Addr()
	if err := dead.Stop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// The dead endpoint is dialled directly, also under the slicer: a proxy
	// would accept the connection instead of refusing it.
	m := newMux(t, Config{Endpoints: []string{deadAddr, serverAddr(t, srv)}})
	if err := m.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	srv := startServer(t, redisserver.Options{TLS: serverTLS})
	ctx := testCtx(t)
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, TLS: clientTLS})
	if _, err := m.Database(0).Do(ctx, "SET", "k", "over TLS"); err != nil {
		t.Fatal(err)
	}
	if s, err := String(m.Database(0).Do(ctx, "GET", "k")); err != nil || s != "over TLS" {
		t.Fatalf("GET = %q, %v", s, err)
	}
	// Without TLS the server does not answer the plaintext handshake.
	plain := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, ConnectTimeout: 500 * time.Millisecond, ConnectRetry: 1})
	if err := plain.Ping(ctx); err == nil || !NotExecuted(err) {
		t.Fatalf("plaintext to a TLS port: %v", err)
	}
}

// Close: waiting callers get ErrClosed, later calls fail at once, and no
// goroutine of the client remains (TestMain's leak check).
func TestClose(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m, err := New(Config{Endpoints: []string{serverAddr(t, srv)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	db := m.Database(0)
	if err := m.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Keep the connection busy with commands that wait in the server.
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Resume() }()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.Do(ctx, "INCR", fmt.Sprint("k", i))
			errs <- err
		}()
	}
	waitFor(t, "commands to be waiting (in flight, or queued behind the first)", func() bool {
		c := m.single.cc.Load()
		if c == nil {
			return false
		}
		c.mu.Lock()
		queued := len(c.pending)
		c.mu.Unlock()
		return c.outstanding.Load() > 0 || queued > 0
	})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) || (!NotExecuted(err) && !MaybeExecuted(err)) {
			t.Fatalf("a pending command got %v, want ErrClosed", err)
		}
	}
	start := time.Now()
	if _, err := db.Do(ctx, "GET", "k"); !errors.Is(err, ErrClosed) || !NotExecuted(err) {
		t.Fatalf("after Close: %v", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("a call after Close did not fail fast")
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// waitFor polls cond until it holds, failing the test after 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
