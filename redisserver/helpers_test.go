package redisserver

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
	"github.com/stretchr/testify/require"
)

// allBackends are the backends every behaviour test runs on.
var allBackends = []Backend{BackendBinary, BackendContainer}

// forEachBackend runs f as a parallel subtest per backend. The container
// subtest skips, saying why, only when no Docker engine answers.
func forEachBackend(t *testing.T, f func(t *testing.T, be Backend)) {
	t.Helper()
	for _, be := range allBackends {
		t.Run(be.String(), func(t *testing.T) {
			t.Parallel()
			if be == BackendContainer {
				requireDocker(t)
			}
			f(t, be)
		})
	}
}

// requireDocker skips the test when no Docker engine answers.
func requireDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := CheckDocker(ctx); err != nil {
		t.Skipf("container backend not tested: no Docker engine answers: %v", err)
	}
}

// testCtx returns a context for one step of a test.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustDo runs a command and fails the test on any error.
func mustDo(t testing.TB, s *Server, args ...any) resp.Value {
	t.Helper()
	v, err := s.Do(testCtx(t), args...)
	require.NoError(t, err, "%v", args)
	return v
}

// rawDo sends commands on one new plain connection to addr, without any
// AUTH, and returns the reply to the last one.
func rawDo(ctx context.Context, network, addr string, cmds ...[]string) (resp.Value, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return resp.Value{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var out []byte
	for _, c := range cmds {
		out = resp.AppendCommandStrings(out, c...)
	}
	if _, err := conn.Write(out); err != nil {
		return resp.Value{}, err
	}
	r := resp.NewReader(conn, resp.Limits{})
	var v resp.Value
	for range cmds {
		if v, err = r.ReadValue(); err != nil {
			return v, err
		}
	}
	if v.IsError() {
		return v, v.Err()
	}
	return v, nil
}

// eventually calls f until it returns nil or timeout passes, for states of
// external processes that have no event to wait on (cluster gossip).
func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-t.Context().Done():
			timer.Stop()
			t.Fatalf("test ended while waiting: %v", err)
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// serverErr returns the *resp.Error inside err, or nil.
func serverErr(err error) *resp.Error {
	var e *resp.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testCerts are a CA and a certificate signed by it, for 127.0.0.1,
// localhost and redis.test, usable by servers and clients (NewTestTLS).
type testCerts struct{ CA, Cert, Key string }

func writeTestCerts(t testing.TB) testCerts {
	t.Helper()
	o, err := NewTestTLS(t.TempDir(), "redis.test")
	require.NoError(t, err)
	return testCerts{CA: o.CAFile, Cert: o.CertFile, Key: o.KeyFile}
}

// processGone reports whether pid no longer names a live process.
func processGone(pid int) bool {
	return !processAlive(pid, "")
}
