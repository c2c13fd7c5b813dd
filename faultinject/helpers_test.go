package faultinject

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTimeout bounds every wait of the tests. It is only hit when a test
// fails.
const testTimeout = 15 * time.Second

// testServer is a TCP server on 127.0.0.1:0 that runs handle for every
// connection. Cleanup closes the listener and every connection and waits for
// the handlers.
type testServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startServer(t *testing.T, handle func(net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					_ = c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// startEcho starts a server that echoes every byte and closes after the
// client's end of file.
func startEcho(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// startGreeter starts a server that writes payload to every client and closes.
func startGreeter(t *testing.T, payload []byte) *testServer {
	t.Helper()
	return startServer(t, func(c net.Conn) { _, _ = c.Write(payload) })
}

// received is what a sink server read from one connection.
type received struct {
	data []byte
	err  error // io.EOF for a clean close
	at   time.Time
}

// startSink starts a server that reads each connection to its end and reports
// it on the returned channel.
func startSink(t *testing.T) (*testServer, <-chan received) {
	t.Helper()
	ch := make(chan received, 16)
	s := startServer(t, func(c net.Conn) {
		data, err := readAll(c)
		ch <- received{data: data, err: err, at: time.Now()}
	})
	return s, ch
}

// readAll reads c until an error, returning io.EOF (unlike io.ReadAll).
func readAll(c net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// newTestProxy starts a proxy to upstream, closed at cleanup.
func newTestProxy(t *testing.T, upstream string, opts ...Option) *Proxy {
	t.Helper()
	opts = append([]Option{WithLogger(t.Logf)}, opts...)
	p, err := New("127.0.0.1:0", upstream, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

// dial connects to addr with a deadline on all I/O, closed at cleanup.
func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	require.NoError(t, c.SetDeadline(time.Now().Add(testTimeout)))
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// readN reads exactly n bytes from c.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)
	return buf
}

// requireEOF asserts that the next read of c reports a clean end of file.
func requireEOF(t *testing.T, c net.Conn) {
	t.Helper()
	n, err := c.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF)
}

// echoOnce writes msg and reads it back.
func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_, err := c.Write([]byte(msg))
	require.NoError(t, err)
	require.Equal(t, msg, string(readN(t, c, len(msg))))
}

// randomBytes returns n random bytes.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// echoTransfer sends payload through c from a second goroutine while reading
// the echo, and returns the checksum of what came back and its length.
func echoTransfer(t *testing.T, c *net.TCPConn, payload []byte) ([32]byte, int) {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	require.NoError(t, err)
	require.NoError(t, <-werr)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, int(n)
}

// eventually waits until cond holds, polling; it fails the test at the
// timeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// recv waits for the next value from ch.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting on channel")
	}
	panic("unreachable")
}

// isEOFOrReset reports whether err is a clean or reset close.
func isEOFOrReset(err error) bool {
	return errors.Is(err, io.EOF) || isReset(err)
}
