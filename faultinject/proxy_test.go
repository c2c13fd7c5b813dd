package faultinject

import (
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForwardIntact(t *testing.T) {
	t.Parallel()
	type toxic struct {
		dir Direction
		t   Toxic
	}
	tests := []struct {
		name   string
		toxics []toxic
	}{
		{name: "none"},
		{name: "latency", toxics: []toxic{{Upstream, Latency{Delay: time.Millisecond, Jitter: time.Millisecond}}, {Downstream, Latency{Delay: time.Millisecond}}}},
		{name: "slicer", toxics: []toxic{{Upstream, Slicer{AverageSize: 3000, SizeVariation: 2999}}, {Downstream, Slicer{AverageSize: 1000, SizeVariation: 500}}}},
		{name: "bandwidth", toxics: []toxic{{Upstream, Bandwidth{BytesPerSecond: 64 << 20}}, {Downstream, Bandwidth{BytesPerSecond: 64 << 20}}}},
		{name: "all", toxics: []toxic{
			{Upstream, Slicer{AverageSize: 2048, SizeVariation: 1024}}, {Upstream, Latency{Delay: time.Millisecond}},
			{Downstream, Bandwidth{BytesPerSecond: 64 << 20}}, {Downstream, Slicer{AverageSize: 4096}},
			{Downstream, SlowClose{Delay: time.Millisecond}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, startEcho(t).addr())
			for i, tx := range tt.toxics {
				require.NoError(t, p.AddToxic(string(rune('a'+i)), tx.dir, tx.t, 1))
			}
			payload := randomBytes(t, 4<<20)
			sum, n := echoTransfer(t, dial(t, p.Addr()), payload)
			require.Equal(t, len(payload), n)
			require.Equal(t, sha256.Sum256(payload), sum)
			eventually(t, "connection closed", func() bool { return p.Conns() == 0 })
			st := p.Stats()
			assert.Equal(t, int64(1), st.Accepted)
			assert.Equal(t, DirStats{Read: int64(n), Written: int64(n)}, st.Upstream)
			assert.Equal(t, DirStats{Read: int64(n), Written: int64(n)}, st.Downstream)
		})
	}
}

func TestManyConnections(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("slice", Downstream, Slicer{AverageSize: 7, SizeVariation: 6}, 0.5))
	conns := make([]*net.TCPConn, 20)
	for i := range conns {
		conns[i] = dial(t, p.Addr())
	}
	eventually(t, "20 connections", func() bool { return p.Conns() == 20 })
	for i, c := range conns {
		echoOnce(t, c, "hello from connection "+string(rune('A'+i)))
	}
	for _, c := range conns {
		require.NoError(t, c.CloseWrite())
		requireEOF(t, c)
	}
	eventually(t, "all closed", func() bool { return p.Conns() == 0 })
}

func TestRefuseNew(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	old := dial(t, p.Addr())
	echoOnce(t, old, "before")

	require.NoError(t, p.RefuseNew(true))
	require.True(t, p.Refusing())
	require.NoError(t, p.RefuseNew(true), "idempotent")
	_, err := net.DialTimeout("tcp", p.Addr(), testTimeout)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	echoOnce(t, old, "open connections carry on")

	require.NoError(t, p.RefuseNew(false))
	require.False(t, p.Refusing())
	require.NoError(t, p.RefuseNew(false), "idempotent")
	echoOnce(t, dial(t, p.Addr()), "accepting again")
	echoOnce(t, old, "still")
}

func TestCutAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cut     func(*Proxy)
		wantErr error
	}{
		{"cut", (*Proxy).CutAll, io.EOF},
		{"reset", (*Proxy).ResetAll, syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, startEcho(t).addr())
			a, b := dial(t, p.Addr()), dial(t, p.Addr())
			echoOnce(t, a, "a")
			echoOnce(t, b, "b")
			require.Equal(t, 2, p.Conns())
			tt.cut(p)
			require.Equal(t, 0, p.Conns(), "CutAll waits for the connections to go")
			for _, c := range []net.Conn{a, b} {
				_, err := c.Read(make([]byte, 1))
				require.ErrorIs(t, err, tt.wantErr)
			}
			echoOnce(t, dial(t, p.Addr()), "new connections work")
		})
	}
}

func TestPause(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	c := dial(t, p.Addr())
	echoOnce(t, c, "before")

	p.Pause()
	require.True(t, p.Paused())
	_, err := c.Write([]byte("held"))
	require.NoError(t, err)
	eventually(t, "proxy read the bytes", func() bool { return p.Stats().Upstream.Read == int64(len("before")+len("held")) })
	require.Equal(t, int64(len("before")), p.Stats().Upstream.Written, "nothing forwarded while paused")

	p.Resume()
	require.False(t, p.Paused())
	require.Equal(t, "held", string(readN(t, c, 4)))
	echoOnce(t, c, "after")
}

func TestSetUpstream(t *testing.T) {
	t.Parallel()
	a := startGreeter(t, []byte("A"))
	b := startGreeter(t, []byte("B"))
	p := newTestProxy(t, a.addr())
	require.Equal(t, a.addr(), p.Upstream())
	require.Equal(t, "A", string(readN(t, dial(t, p.Addr()), 1)))
	p.SetUpstream(b.addr())
	require.Equal(t, b.addr(), p.Upstream())
	require.Equal(t, "B", string(readN(t, dial(t, p.Addr()), 1)))
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := ln.Addr().String()
	require.NoError(t, ln.Close())

	p := newTestProxy(t, down)
	c := dial(t, p.Addr())
	_, err = c.Read(make([]byte, 1))
	require.True(t, isEOFOrReset(err), "got %v", err)
	eventually(t, "connection gone", func() bool { return p.Conns() == 0 })
}

func TestServerResetPropagates(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c net.Conn) {
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err == nil {
			_ = c.(*net.TCPConn).SetLinger(0)
		}
	})
	p := newTestProxy(t, srv.addr())
	c := dial(t, p.Addr())
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
}

func TestHalfClose(t *testing.T) {
	t.Parallel()
	// The server replies only after the client's end of file.
	srv := startServer(t, func(c net.Conn) {
		data, err := readAll(c)
		if errors.Is(err, io.EOF) {
			_, _ = c.Write(append([]byte("got "), data...))
		}
	})
	p := newTestProxy(t, srv.addr())
	c := dial(t, p.Addr())
	_, err := c.Write([]byte("question"))
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	got, err := readAll(c)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "got question", string(got))
}

func TestClose(t *testing.T) {
	t.Parallel()
	p, err := New("127.0.0.1:0", startEcho(t).addr())
	require.NoError(t, err)
	// A chunk held by a long latency must not delay Close.
	require.NoError(t, p.AddToxic("slow", Upstream, Latency{Delay: time.Hour}, 1))
	c := dial(t, p.Addr())
	_, err = c.Write([]byte("held"))
	require.NoError(t, err)
	eventually(t, "chunk read", func() bool { return p.Stats().Upstream.Read == 4 })

	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "idempotent")
	require.Equal(t, 0, p.Conns())
	_, err = c.Read(make([]byte, 1))
	require.True(t, isEOFOrReset(err), "got %v", err)
	_, err = net.DialTimeout("tcp", p.Addr(), testTimeout)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	require.ErrorIs(t, p.AddToxic("x", Upstream, Blackhole{}, 1), ErrClosed)
	require.ErrorIs(t, p.UpdateToxic("slow", Blackhole{}, 1), ErrClosed)
	require.ErrorIs(t, p.RemoveToxic("slow"), ErrClosed)
	require.ErrorIs(t, p.RefuseNew(false), ErrClosed)
	require.False(t, p.Refusing())
	p.CutAll()
	p.Pause()
	require.False(t, p.Paused())
}

func TestNewListenError(t *testing.T) {
	t.Parallel()
	_, err := New("127.0.0.1:notaport", "127.0.0.1:1")
	require.Error(t, err)
}

func TestToxicAPI(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, "127.0.0.1:1", WithSeed(42))
	require.Equal(t, int64(42), p.Seed())

	require.NoError(t, p.AddToxic("lat", Downstream, &Latency{Delay: time.Second}, 1))
	require.NoError(t, p.AddToxic("bw", Upstream, Bandwidth{BytesPerSecond: 10}, 0.5))
	require.NoError(t, p.AddToxic("cut", Upstream, LimitData{Bytes: 3}, 0))

	errTests := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate", p.AddToxic("lat", Upstream, Blackhole{}, 1), ErrToxicExists},
		{"empty name", p.AddToxic("", Upstream, Blackhole{}, 1), ErrInvalidToxic},
		{"nil toxic", p.AddToxic("n", Upstream, nil, 1), ErrInvalidToxic},
		{"nil pointer", p.AddToxic("n", Upstream, (*Latency)(nil), 1), ErrInvalidToxic},
		{"bad direction", p.AddToxic("n", Direction(7), Blackhole{}, 1), ErrInvalidDirection},
		{"toxicity > 1", p.AddToxic("n", Upstream, Blackhole{}, 1.5), ErrInvalidToxicity},
		{"toxicity < 0", p.AddToxic("n", Upstream, Blackhole{}, -0.1), ErrInvalidToxicity},
		{"negative latency", p.AddToxic("n", Upstream, Latency{Delay: -1}, 1), ErrInvalidToxic},
		{"negative jitter", p.AddToxic("n", Upstream, Latency{Jitter: -1}, 1), ErrInvalidToxic},
		{"zero bandwidth", p.AddToxic("n", Upstream, Bandwidth{}, 1), ErrInvalidToxic},
		{"zero slice", p.AddToxic("n", Upstream, Slicer{}, 1), ErrInvalidToxic},
		{"negative variation", p.AddToxic("n", Upstream, Slicer{AverageSize: 1, SizeVariation: -1}, 1), ErrInvalidToxic},
		{"negative limit", p.AddToxic("n", Upstream, LimitData{Bytes: -1}, 1), ErrInvalidToxic},
		{"negative reset", p.AddToxic("n", Upstream, ResetPeer{Timeout: -1}, 1), ErrInvalidToxic},
		{"negative slow close", p.AddToxic("n", Upstream, SlowClose{Delay: -1}, 1), ErrInvalidToxic},
		{"update unknown", p.UpdateToxic("nope", Blackhole{}, 1), ErrToxicNotFound},
		{"update invalid", p.UpdateToxic("lat", Latency{Delay: -1}, 1), ErrInvalidToxic},
		{"update toxicity", p.UpdateToxic("lat", Latency{}, 2), ErrInvalidToxicity},
		{"remove unknown", p.RemoveToxic("nope"), ErrToxicNotFound},
	}
	for _, tt := range errTests {
		assert.ErrorIs(t, tt.err, tt.want, tt.name)
	}

	require.NoError(t, p.UpdateToxic("lat", Latency{Delay: 2 * time.Second}, 0.25))
	require.NoError(t, p.UpdateToxic("bw", Slicer{AverageSize: 1}, 1), "the kind may change")
	want := []ToxicInfo{
		{Name: "lat", Direction: Downstream, Toxic: Latency{Delay: 2 * time.Second}, Toxicity: 0.25},
		{Name: "bw", Direction: Upstream, Toxic: Slicer{AverageSize: 1}, Toxicity: 1},
		{Name: "cut", Direction: Upstream, Toxic: LimitData{Bytes: 3}, Toxicity: 0},
	}
	require.Equal(t, want, p.Toxics())
	got, ok := p.Toxic("bw")
	require.True(t, ok)
	require.Equal(t, want[1], got)
	_, ok = p.Toxic("nope")
	require.False(t, ok)

	require.NoError(t, p.RemoveToxic("bw"))
	require.Equal(t, []ToxicInfo{want[0], want[2]}, p.Toxics())
	p.RemoveAllToxics()
	require.Empty(t, p.Toxics())
}

func TestDirectionText(t *testing.T) {
	t.Parallel()
	for _, d := range []Direction{Upstream, Downstream} {
		b, err := d.MarshalText()
		require.NoError(t, err)
		var back Direction
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, d, back)
		require.Equal(t, string(b), d.String())
	}
	_, err := Direction(9).MarshalText()
	require.ErrorIs(t, err, ErrInvalidDirection)
	var d Direction
	require.ErrorIs(t, d.UnmarshalText([]byte("sideways")), ErrInvalidDirection)
	require.Equal(t, "Direction(9)", Direction(9).String())
}

func TestKinds(t *testing.T) {
	t.Parallel()
	kinds := map[string]Toxic{
		"latency": Latency{}, "bandwidth": Bandwidth{}, "slicer": Slicer{}, "limit_data": LimitData{},
		"blackhole": Blackhole{}, "reset_peer": ResetPeer{}, "slow_close": SlowClose{},
	}
	for want, tx := range kinds {
		assert.Equal(t, want, tx.Kind())
	}
}
