package client

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
)

// A fake server over net.Pipe, for protocol edge cases that a real server
// will not produce on demand (split frames, stray replies, garbage, write
// failures). Behaviour is tested against real servers elsewhere.

// fakeServer hands out the server side of every connection the client dials.
type fakeServer struct {
	t        *testing.T
	conns    chan *fakeConn
	commands bool // COMMAND was answered (the client asks once per Mux)
}

// fakeConn is the server side of one connection.
type fakeConn struct {
	t  *testing.T
	nc net.Conn
	rd *resp.Reader
}

// newFake returns a fake server and a Config whose Dialer connects to it.
// hello is how the fake answers the handshake: "3" (a HELLO 3 map), or an
// error line such as "-ERR unknown command 'HELLO'" (then it expects the
// RESP2 handshake, ending with PING).
func newFake(t *testing.T) (*fakeServer, Config) {
	t.Helper()
	fs := &fakeServer{t: t, conns: make(chan *fakeConn, 16)}
	cfg := Config{
		Endpoints:      []string{"fake:6379"},
		ConnectTimeout: 5 * time.Second,
		ConnectRetry:   1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cli, srv := net.Pipe()
			fs.conns <- &fakeConn{t: t, nc: srv, rd: resp.NewReader(srv, resp.Limits{})}
			return cli, nil
		},
	}
	return fs, cfg
}

// newFakes returns a fake server for each address and a Config, seeded
// with the first, whose Dialer connects to the fake of the address dialled.
// The fakes do not expect COMMAND unless commands is set on them.
func newFakes(t *testing.T, addrs ...string) (map[string]*fakeServer, Config) {
	t.Helper()
	servers := map[string]*fakeServer{}
	for _, a := range addrs {
		servers[a] = &fakeServer{t: t, conns: make(chan *fakeConn, 4), commands: true}
	}
	cfg := Config{
		Endpoints:      addrs[:1],
		ConnectTimeout: 5 * time.Second,
		ConnectRetry:   1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cli, srv := net.Pipe()
			servers[addr].conns <- &fakeConn{t: t, nc: srv, rd: resp.NewReader(srv, resp.Limits{})}
			return cli, nil
		},
	}
	return servers, cfg
}

// accept takes the next dialled connection and answers the handshake the
// default way: HELLO 3 succeeds, and on the first connection COMMAND is
// refused (the client falls back to its static table).
func (fs *fakeServer) accept() *fakeConn {
	fs.t.Helper()
	var fc *fakeConn
	select {
	case fc = <-fs.conns:
	case <-time.After(10 * time.Second):
		fs.t.Fatal("the client did not connect")
	}
	fc.expect("HELLO", "3")
	fc.reply(resp.Map(resp.Bulk("server"), resp.Bulk("fake"), resp.Bulk("proto"), resp.Int(3)))
	if !fs.commands {
		fc.expect("COMMAND")
		fc.reply(resp.ErrorValue("ERR unknown command 'COMMAND'"))
		fs.commands = true
	}
	return fc
}

// noDial fails the test, saying why, if the client has dialled a
// connection that has not been accepted.
func (fs *fakeServer) noDial(why string) {
	fs.t.Helper()
	select {
	case <-fs.conns:
		fs.t.Fatal(why)
	default:
	}
}

// read returns the next command the client sent, as strings.
func (fc *fakeConn) read() []string {
	fc.t.Helper()
	_ = fc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := fc.rd.ReadValue()
	if err != nil {
		fc.t.Fatalf("fake server: reading a command: %v", err)
	}
	var args []string
	for _, e := range v.Elems {
		args = append(args, e.Str)
	}
	return args
}

// expect reads a command and checks it.
func (fc *fakeConn) expect(args ...string) {
	fc.t.Helper()
	got := fc.read()
	if strings.Join(got, " ") != strings.Join(args, " ") {
		fc.t.Fatalf("fake server: got command %q, want %q", got, args)
	}
}

// reply writes values.
func (fc *fakeConn) reply(vs ...resp.Value) {
	fc.t.Helper()
	var b []byte
	for _, v := range vs {
		b = resp.AppendValue(b, v)
	}
	fc.write(b)
}

// write writes raw bytes.
func (fc *fakeConn) write(b []byte) {
	fc.t.Helper()
	_ = fc.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := fc.nc.Write(b); err != nil {
		fc.t.Fatalf("fake server: write: %v", err)
	}
}

// result collects what a goroutine got from Do.
type result struct {
	v   resp.Value
	err error
}

// goDo runs db.Do on its own goroutine.
func goDo(ctx context.Context, db Database, args ...any) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, err := db.Do(ctx, args...)
		ch <- result{v, err}
	}()
	return ch
}

// wait receives a result within a deadline.
func wait(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10s")
		return result{}
	}
}

var _ sync.Locker = (*sync.Mutex)(nil)
