package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/justredis/justredis/faultinject"
	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// wireCase is one command for the writer test: its arguments (given as
// []any to encodeRequest, or as []string to encodeStrings), what is done
// with ASKING before it is written, and its wire form built independently
// (by the copying encoders).
type wireCase struct {
	anyArgs []any    // for encodeRequest; nil: strArgs
	strArgs []string // used when anyArgs is nil
	asking  int      // 0: never set; 1: set; 2: set, then taken off; 3: set, off, set again
	bigs    int      // how many big string arguments it has
	want    []byte   // the expected wire form, ASKING included
}

// wireCases builds n commands with 0 to 6 big string arguments each (every
// one with contents of its own, some exactly bigArgMin long), small strings,
// numbers, a string one byte short of big, and a big []byte (copied, not
// referred to), encoded three ways, with ASKING set, set and taken off, or
// set, taken off and set again. It returns how many big strings they hold.
func wireCases(t *testing.T, n int) (cases []wireCase, bigs int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	id := 0
	big := func() string {
		id++
		size := bigArgMin + (id*37)%5000
		if id%11 == 0 {
			size = bigArgMin // the smallest big one
		}
		s := fmt.Sprintf("%06d:", id)
		return s + bigValue(rng, size-len(s))
	}
	for i := range n {
		wc := wireCase{asking: i / 3 % 4, bigs: i % 7}
		strs := []string{"RPUSH", fmt.Sprintf("wire:%d", i)}
		for j := range wc.bigs {
			strs = append(strs, big())
			if j%2 == 0 {
				strs = append(strs, "small")
			}
		}
		if i%5 == 0 {
			strs = append(strs, strings.Repeat("s", bigArgMin-1)) // copied: one byte short
		}
		switch i % 3 {
		case 0: // Do's encoder, strings only
			for _, s := range strs {
				wc.anyArgs = append(wc.anyArgs, s)
			}
		case 1: // DoStrings' encoder
			wc.strArgs = strs
		case 2: // Do's encoder with other kinds mixed in
			wc.anyArgs = []any{strs[0], strs[1], i, []byte(big())}
			for _, s := range strs[2:] {
				wc.anyArgs = append(wc.anyArgs, s, 1.5)
			}
		}
		var plain []byte
		if wc.anyArgs != nil {
			var err error
			if plain, err = (&Database{}).encode(nil, wc.anyArgs); err != nil {
				t.Fatal(err)
			}
		} else {
			plain = resp.AppendCommandStrings(nil, wc.strArgs...)
		}
		if wc.asking%2 == 1 {
			wc.want = append(slices.Clone(askingCommand), plain...)
		} else {
			wc.want = plain
		}
		bigs += wc.bigs
		cases = append(cases, wc)
	}
	return cases, bigs
}

// request encodes wc the way the client does (big strings by reference).
func (wc wireCase) request(t *testing.T) *request {
	t.Helper()
	r := getRequest()
	if wc.anyArgs != nil {
		if err := (&Database{}).encodeRequest(r, wc.anyArgs); err != nil {
			t.Fatal(err)
		}
	} else {
		r.encodeStrings(wc.strArgs)
	}
	switch wc.asking {
	case 1:
		r.setAsking(true)
	case 2:
		r.setAsking(true)
		r.setAsking(false)
	case 3:
		r.setAsking(true)
		r.setAsking(false)
		r.setAsking(true)
	}
	if len(r.big) != wc.bigs {
		t.Fatalf("%d big arguments referred to, want %d", len(r.big), wc.bigs)
	}
	if r.size() != len(wc.want) {
		t.Fatalf("size %d, want %d", r.size(), len(wc.want))
	}
	// Flattened (a copy: r goes to put as it is), it is the same bytes.
	cp := &request{buf: slices.Clone(r.buf), big: slices.Clone(r.big), bigLen: r.bigLen}
	cp.flatten()
	if !bytes.Equal(cp.buf, wc.want) {
		t.Fatalf("flattened request differs from the copying encoder's bytes:\n%.200q\nwant\n%.200q", cp.buf, wc.want)
	}
	return r
}

// loopbackPair returns both ends of a real loopback TCP connection (closed
// at the end of the test).
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// The writer's gather path (put, cutPiece, writeOut, flush), on a conn
// around a real TCP socket: with vectors, big string arguments go out as
// pieces of their own (more than writev's 1,024 vectors in one flush, so
// net.Buffers has to split the write), without them they are copied into
// the buffer; either way the bytes on the wire are each request's wire form,
// in order, with ASKING where it was set, and the stream offsets drain
// relies on (offset, written) count every byte.
func TestWriterGathersBigArguments(t *testing.T) {
	cases, bigs := wireCases(t, 420)
	if bigs <= 1100 {
		t.Fatalf("only %d big arguments", bigs)
	}
	var want []byte
	for _, wc := range cases {
		want = append(want, wc.want...)
	}
	for _, tc := range []struct {
		name       string
		vectored   bool
		flushEvery int
	}{
		{"vectored/flush every 9", true, 9},
		{"vectored/one big flush", true, len(cases)},
		{"copying/flush every 9", false, 9},
		{"copying/one big flush", false, len(cases)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			nc, peer := loopbackPair(t)
			if !plainSocket(nc) {
				t.Fatalf("a loopback %T does not take vectors", nc)
			}
			var got bytes.Buffer
			readDone := make(chan error, 1)
			go func() {
				_, err := io.Copy(&got, peer)
				readDone <- err
			}()

			c := &conn{nc: nc, s: &settings{}, vectored: tc.vectored}
			var sinceFlush, bigSinceFlush, total, maxIov int
			flush := func() {
				t.Helper()
				maxIov = max(maxIov, len(c.iov))
				if err := c.flush(); err != nil {
					t.Fatal(err)
				}
				if c.wlen != 0 || len(c.wbuf) != 0 || len(c.iov) != 0 || c.iovMark != 0 || c.wv != nil {
					t.Fatalf("after flush: wlen %d, wbuf %d bytes, %d pieces, mark %d", c.wlen, len(c.wbuf), len(c.iov), c.iovMark)
				}
				for i, p := range c.iov[:cap(c.iov)] {
					if p != nil {
						t.Fatalf("after flush, piece %d still refers to %d bytes", i, len(p))
					}
				}
				if c.written != int64(total) || c.offset != int64(total) {
					t.Fatalf("after flush: written %d, offset %d, want %d", c.written, c.offset, total)
				}
				sinceFlush, bigSinceFlush = 0, 0
			}
			for i, wc := range cases {
				r := wc.request(t)
				start, pieces := c.offset+int64(c.wlen), len(c.iov)
				c.put(r)
				if start != int64(total) {
					t.Fatalf("request %d starts at %d, want %d", i, start, total)
				}
				sinceFlush += r.size()
				bigSinceFlush += r.bigLen
				total += r.size()
				if c.wlen != sinceFlush {
					t.Fatalf("request %d: wlen %d, want %d", i, c.wlen, sinceFlush)
				}
				if tc.vectored {
					if len(r.big) > 0 && len(c.iov) == 0 {
						t.Fatalf("request %d: %d big arguments put, no pieces: they were copied", i, len(r.big))
					}
					// Each big argument is a piece of its own, the caller's
					// string itself.
					for j, b := range r.big {
						if !slices.ContainsFunc(c.iov[pieces:], func(p []byte) bool {
							return len(p) == len(b.s) && unsafe.SliceData(p) == unsafe.StringData(b.s)
						}) {
							t.Fatalf("request %d: big argument %d is not sent from its string", i, j)
						}
					}
					if len(c.wbuf)+bigSinceFlush != c.wlen {
						t.Fatalf("request %d: wbuf %d bytes + %d big, wlen %d", i, len(c.wbuf), bigSinceFlush, c.wlen)
					}
				} else {
					if len(c.iov) != 0 {
						t.Fatalf("request %d: %d pieces on a socket without vectors", i, len(c.iov))
					}
					if len(c.wbuf) != c.wlen {
						t.Fatalf("request %d: wbuf %d bytes, wlen %d", i, len(c.wbuf), c.wlen)
					}
				}
				putRequest(r) // the strings stay the test's: the pieces still refer to them
				if (i+1)%tc.flushEvery == 0 {
					flush()
				}
			}
			flush()
			if total != len(want) {
				t.Fatalf("%d bytes put, want %d", total, len(want))
			}
			if tc.vectored && tc.flushEvery == len(cases) && maxIov <= 1024 {
				t.Fatalf("the big flush had %d pieces: not past writev's 1,024", maxIov)
			}
			t.Logf("%d requests, %d big arguments, %d bytes; at most %d pieces in one write", len(cases), bigs, total, maxIov)
			_ = nc.Close()
			select {
			case err := <-readDone:
				if err != nil {
					t.Fatal(err)
				}
			case <-ctx.Done():
				t.Fatal("the reading end did not see end of file")
			}
			if !bytes.Equal(got.Bytes(), want) {
				g := got.Bytes()
				i := 0
				for i < min(len(g), len(want)) && g[i] == want[i] {
					i++
				}
				t.Fatalf("received %d bytes, want %d; first difference at byte %d", len(g), len(want), i)
			}
		})
	}
}

// bigCutEnv is a server behind a fault proxy, and a Mux connected to it
// through a dialer that counts connections and, once armed, takes the
// proxy's toxic off before every connection after the first.
type bigCutEnv struct {
	srv *redisserver.Server
	p   *faultinject.Proxy
	m   *Mux

	mu        sync.Mutex
	dials     int
	removeErr error // the dialer's failure to take the toxic off
}

const (
	bigCutToxic = "limit"
	bigCutLimit = 64 << 10
	bigCutValue = 2 << 20
)

func newBigCutEnv(t *testing.T, ctx context.Context, removeOnRedial bool, sndbuf int) *bigCutEnv {
	t.Helper()
	e := &bigCutEnv{srv: startServer(t, redisserver.Options{})}
	p, err := faultinject.New("127.0.0.1:0", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	t.Cleanup(func() { _ = p.Close() })
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		e.mu.Lock()
		e.dials++
		if e.dials > 1 && removeOnRedial {
			// The first connection was cut: the retry gets through.
			if err := p.RemoveToxic(bigCutToxic); err != nil && !errors.Is(err, faultinject.ErrToxicNotFound) {
				e.removeErr = err
			}
		}
		e.mu.Unlock()
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr) // a *net.TCPConn: writev, no copy
		if err == nil && sndbuf > 0 {
			err = nc.(*net.TCPConn).SetWriteBuffer(sndbuf)
		}
		return nc, err
	}
	e.m = newMux(t, Config{Endpoints: []string{p.Addr()}, Dialer: dial})
	if err := e.m.Ping(ctx); err != nil { // connected, COMMAND table read
		t.Fatal(err)
	}
	return e
}

// dialled returns how many connections the Mux opened, and the dialer's
// failure to take the toxic off, if any.
func (e *bigCutEnv) dialled() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dials, e.removeErr
}

// conn returns the Mux's shared connection, which must write vectors.
func (e *bigCutEnv) conn(t *testing.T, ctx context.Context) *conn {
	t.Helper()
	c, err := e.m.Nodes()[0].conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !c.vectored {
		t.Fatal("the connection through the proxy does not write vectors")
	}
	return c
}

// cut arms the toxic: the proxy closes each connection once bigCutLimit
// bytes (counted from now) have passed it towards the server.
func (e *bigCutEnv) cut(t *testing.T) {
	t.Helper()
	if err := e.p.AddToxic(bigCutToxic, faultinject.Upstream, faultinject.LimitData{Bytes: bigCutLimit}, 1); err != nil {
		t.Fatal(err)
	}
}

// stored returns the key's value as the server has it, asked directly (not
// through the proxy), and whether it exists.
func (e *bigCutEnv) stored(t *testing.T, ctx context.Context, key string) (string, bool) {
	t.Helper()
	v, err := e.srv.Do(ctx, "GET", key)
	if err != nil {
		t.Fatal(err)
	}
	if v.IsNull() {
		return "", false
	}
	if v.Type != resp.TypeBulkString {
		t.Fatalf("GET %s: %v", key, v)
	}
	return v.Str, true
}

// A 2 MiB string argument (sent from the caller's string by writev) whose
// connection the proxy cuts after 64 KiB: the server never gets the command
// whole, so it never runs. The error must say "not executed" exactly when
// the command's last byte never reached the kernel, and "maybe executed"
// otherwise; which one it is depends on how much the sockets buffer, not on
// the proxy: with the kernel's default (autotuned) send buffer a loopback
// socket usually takes all 2 MiB at once, so the write succeeds and the
// read then fails (maybe executed); with a 16 KiB send buffer the write is
// still blocked when the cut comes (not executed). Neither is a guarantee,
// so each run checks the outcome against what the connection counted, and
// logs it. Re-sent (when it was not sent, or it is idempotent) on a second
// connection, without the toxic, it reaches the server whole.
func TestBigArgumentCutMidWrite(t *testing.T) {
	value := bigValue(rand.New(rand.NewPCG(5, 6)), bigCutValue)
	for _, buf := range []struct {
		name   string
		sndbuf int // SO_SNDBUF of the client's sockets; 0: the kernel's default
	}{
		{"default sndbuf", 0},
		{"16KiB sndbuf", 16 << 10},
	} {
		for _, how := range []struct {
			name string
			mode int32 // the connection's mode when the SET went out
			set  func(ctx context.Context, db Database, key, value string) error
		}{
			{"direct", modeDirect, func(ctx context.Context, db Database, key, value string) error {
				_, err := db.Do(ctx, "SET", key, value) // a lone caller: a direct round trip
				return err
			}},
			{"pipelined", modePipelined, func(ctx context.Context, db Database, key, value string) error {
				_, err := db.Command(ctx, "SET", key, value).Reply(ctx) // the writer goroutine, then drain
				return err
			}},
		} {
			t.Run(buf.name+"/no retries/"+how.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
				defer cancel()
				e := newBigCutEnv(t, ctx, false, buf.sndbuf)
				c := e.conn(t, ctx)
				if c.mode.Load() != modeDirect {
					// The offset is read below on this goroutine, which ran
					// the Ping: only a direct round trip makes that safe.
					t.Skip("this platform's connections start pipelined") // canPeek is false
				}
				before := c.offset // the Ping's bytes
				e.cut(t)
				err := how.set(ctx, e.m.Database(0).With(Retries(0)), "big:cut", value)
				var re *RequestError
				if !errors.As(err, &re) || !errors.Is(err, ErrConnection) {
					t.Fatalf("SET through a cut connection: %v, want a *RequestError for a connection failure", err)
				}
				if re.Attempts != 1 {
					t.Fatalf("%d attempts with Retries(0), want 1", re.Attempts)
				}
				if NotExecuted(err) == MaybeExecuted(err) {
					t.Fatalf("NotExecuted %v, MaybeExecuted %v: exactly one must hold (%v)", NotExecuted(err), MaybeExecuted(err), err)
				}
				select {
				case <-c.writerDone: // the connection is finished: written is final
				case <-ctx.Done():
					t.Fatal("the failed connection did not finish")
				}
				if m := c.mode.Load(); m != how.mode {
					t.Fatalf("the connection is in mode %d, want %d", m, how.mode)
				}
				if want := len(resp.AppendCommandStrings(nil, "SET", "big:cut", value)); c.offset-before != int64(want) {
					t.Fatalf("offset moved %d bytes for a SET of %d", c.offset-before, want)
				}
				// The rule of drain and of a direct round trip: not sent exactly
				// when the command's last byte did not reach the kernel.
				if unsent := c.written < c.offset; NotExecuted(err) != unsent {
					t.Fatalf("NotExecuted = %v, but %d of the stream's %d bytes reached the kernel", NotExecuted(err), c.written, c.offset)
				}
				// The proxy read bigCutLimit bytes of the SET from the socket, so
				// the kernel took at least that many: a partial write counts them.
				if c.written-before < bigCutLimit {
					t.Fatalf("%d bytes of the SET counted as written; the proxy passed %d", c.written-before, bigCutLimit)
				}
				t.Logf("%v; %d of %d bytes of the SET reached the kernel", err, c.written-before, c.offset-before)
				if s, ok := e.stored(t, ctx, "big:cut"); ok {
					t.Fatalf("the server stored %d bytes from a command it got %d bytes of", len(s), bigCutLimit)
				}
				if n, rerr := e.dialled(); n != 1 || rerr != nil {
					t.Fatalf("%d connections (%v): a SET with Retries(0) was re-sent", n, rerr)
				}
			})
		}

		for _, tc := range []struct {
			name       string
			idempotent bool
		}{
			{"retried idempotent", true},
			{"retried if not sent", false},
		} {
			t.Run(buf.name+"/"+tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
				defer cancel()
				e := newBigCutEnv(t, ctx, true, buf.sndbuf)
				e.conn(t, ctx)
				e.cut(t)
				key := "big:retried"
				_, err := e.m.Database(0).With(Retries(3), Idempotent(tc.idempotent)).Do(ctx, "SET", key, value)
				dials, rerr := e.dialled()
				if rerr != nil {
					t.Fatalf("taking the toxic off: %v", rerr)
				}
				s, stored := e.stored(t, ctx, key)
				switch {
				case err == nil:
					// Cut once (a second connection carried it), then whole.
					if dials != 2 {
						t.Fatalf("the SET succeeded after %d connections, want 2 (one cut)", dials)
					}
					if !stored || s != value {
						t.Fatalf("after the retried SET the server has %d bytes (exists: %v), want %d", len(s), stored, len(value))
					}
					t.Log("cut, re-sent on a second connection, stored whole")
				case tc.idempotent:
					t.Fatalf("idempotent SET with Retries(3): %v", err)
				default:
					// Not idempotent: only an unsent command is re-sent; one
					// the kernel took whole comes back as maybe executed and,
					// the server never having got it whole, did not run.
					if !MaybeExecuted(err) || NotExecuted(err) {
						t.Fatalf("SET not re-sent: %v; only a maybe-executed one may not be", err)
					}
					if dials != 1 {
						t.Fatalf("%d connections for a SET that was not re-sent", dials)
					}
					if stored {
						t.Fatalf("the server stored %d bytes from a command it got %d bytes of", len(s), bigCutLimit)
					}
					t.Logf("the kernel took the whole SET before the cut, not re-sent: %v", err)
				}
			})
		}
	}
}
