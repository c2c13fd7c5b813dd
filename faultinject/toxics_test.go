package faultinject

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slack is the loose upper bound added to expected durations: the test
// machines are noisy, so only lower bounds are tight.
const slack = 3 * time.Second

func TestLatency(t *testing.T) {
	t.Parallel()
	const delay = 60 * time.Millisecond
	tests := []struct {
		name string
		dirs []Direction
		want time.Duration
	}{
		{"upstream", []Direction{Upstream}, delay},
		{"downstream", []Direction{Downstream}, delay},
		{"both", []Direction{Upstream, Downstream}, 2 * delay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, startEcho(t).addr())
			for _, d := range tt.dirs {
				require.NoError(t, p.AddToxic("lat-"+d.String(), d, Latency{Delay: delay}, 1))
			}
			c := dial(t, p.Addr())
			for range 3 {
				start := time.Now()
				echoOnce(t, c, "ping")
				rtt := time.Since(start)
				assert.GreaterOrEqual(t, rtt, tt.want)
				assert.Less(t, rtt, tt.want+slack)
			}
		})
	}
}

func TestLatencyJitterKeepsOrder(t *testing.T) {
	t.Parallel()
	const delay, jitter = 20 * time.Millisecond, 15 * time.Millisecond
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("jitter", Upstream, Latency{Delay: delay, Jitter: jitter}, 1))
	c := dial(t, p.Addr())
	var want []byte
	for i := range 40 {
		msg := fmt.Sprintf("message %d;", i)
		want = append(want, msg...)
		start := time.Now()
		echoOnce(t, c, msg)
		assert.GreaterOrEqual(t, time.Since(start), delay-jitter)
	}
	require.NoError(t, c.CloseWrite())
	requireEOF(t, c)
	require.Equal(t, int64(len(want)), p.Stats().Downstream.Written)
}

func TestLatencyChangedWhileHeld(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("lat", Downstream, Latency{Delay: time.Hour}, 1))
	c := dial(t, p.Addr())
	_, err := c.Write([]byte("held"))
	require.NoError(t, err)
	eventually(t, "reply held", func() bool { return p.Stats().Downstream.Read == 4 })

	// Shortening the delay re-evaluates the held chunk from its arrival.
	require.NoError(t, p.UpdateToxic("lat", Latency{Delay: 50 * time.Millisecond}, 1))
	require.Equal(t, "held", string(readN(t, c, 4)))

	// Removing the toxic releases a held chunk at once.
	require.NoError(t, p.UpdateToxic("lat", Latency{Delay: time.Hour}, 1))
	_, err = c.Write([]byte("again"))
	require.NoError(t, err)
	eventually(t, "reply held", func() bool { return p.Stats().Downstream.Read == 9 })
	require.NoError(t, p.RemoveToxic("lat"))
	require.Equal(t, "again", string(readN(t, c, 5)))
}

func TestBandwidth(t *testing.T) {
	t.Parallel()
	const size, rate = 192 << 10, 512 << 10 // 375 ms at the rate
	want := time.Duration(size) * time.Second / rate
	for _, dir := range []Direction{Upstream, Downstream} {
		t.Run(dir.String(), func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, startEcho(t).addr())
			require.NoError(t, p.AddToxic("bw", dir, Bandwidth{BytesPerSecond: rate}, 1))
			payload := randomBytes(t, size)
			start := time.Now()
			sum, n := echoTransfer(t, dial(t, p.Addr()), payload)
			elapsed := time.Since(start)
			require.Equal(t, size, n)
			require.Equal(t, sha256.Sum256(payload), sum)
			assert.GreaterOrEqual(t, elapsed, want*95/100)
			assert.Less(t, elapsed, want+slack)
		})
	}
}

// TestSlicerPieceSizes observes exact piece sizes: with a one-hour delay
// between pieces, the first piece is all that can arrive, and its size is
// the first draw of the connection's random stream.
func TestSlicerPieceSizes(t *testing.T) {
	t.Parallel()
	const seed = 7
	payload := []byte("hello, sliced world")
	tests := []struct {
		name   string
		slicer Slicer
	}{
		{"one byte", Slicer{AverageSize: 1}},
		{"three bytes", Slicer{AverageSize: 3}},
		{"variation", Slicer{AverageSize: 6, SizeVariation: 4}},
		{"variation below one", Slicer{AverageSize: 2, SizeVariation: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, startGreeter(t, payload).addr(), WithSeed(seed))
			tt.slicer.Delay = time.Hour
			require.NoError(t, p.AddToxic("slice", Downstream, tt.slicer, 1))
			c := dial(t, p.Addr())

			wantFirst := sliceSize(streamRand(seed, 0, Downstream), tt.slicer)
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			require.NoError(t, err)
			require.Equal(t, wantFirst, n)
			require.Equal(t, payload[:n], buf[:n])

			require.NoError(t, p.RemoveToxic("slice"))
			rest, err := readAll(c)
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, string(payload[n:]), string(rest))
		})
	}
}

func TestSlicerDelaysPieces(t *testing.T) {
	t.Parallel()
	const pieces, delay = 20, 5 * time.Millisecond
	payload := randomBytes(t, pieces)
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("slice", Upstream, Slicer{AverageSize: 1, Delay: delay}, 1))
	start := time.Now()
	sum, n := echoTransfer(t, dial(t, p.Addr()), payload)
	elapsed := time.Since(start)
	require.Equal(t, pieces, n)
	require.Equal(t, sha256.Sum256(payload), sum)
	assert.GreaterOrEqual(t, elapsed, (pieces-1)*delay)
}

func TestLimitData(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{0, 1, 1000, 100_000} {
		t.Run(fmt.Sprintf("upstream/%d", limit), func(t *testing.T) {
			t.Parallel()
			srv, got := startSink(t)
			p := newTestProxy(t, srv.addr())
			require.NoError(t, p.AddToxic("limit", Upstream, LimitData{Bytes: limit}, 1))
			c := dial(t, p.Addr())
			payload := randomBytes(t, int(limit)+50_000)
			go func() { _, _ = c.Write(payload) }() // fails once the proxy closes
			r := recv(t, got)
			require.ErrorIs(t, r.err, io.EOF)
			require.Equal(t, limit, int64(len(r.data)))
			require.Equal(t, string(payload[:limit]), string(r.data))
			_, err := readAll(c)
			require.True(t, isEOFOrReset(err), "client closed too, got %v", err)
		})
		t.Run(fmt.Sprintf("downstream/%d", limit), func(t *testing.T) {
			t.Parallel()
			payload := randomBytes(t, int(limit)+50_000)
			p := newTestProxy(t, startGreeter(t, payload).addr())
			require.NoError(t, p.AddToxic("limit", Downstream, LimitData{Bytes: limit}, 1))
			data, err := readAll(dial(t, p.Addr()))
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, limit, int64(len(data)))
			require.Equal(t, string(payload[:limit]), string(data))
		})
	}
}

// TestLimitDataReceiverKeepsWriting checks that the receiver gets exactly
// the bytes let through, then end of file, also when it keeps writing after
// the limit (a client sending its next pipelined command while a reply is
// cut): the proxy must not close a socket holding the receiver's unread
// bytes, since that sends an RST and drops what is not yet delivered.
func TestLimitDataReceiverKeepsWriting(t *testing.T) {
	t.Parallel()
	const limit = 200_000
	t.Run("downstream", func(t *testing.T) {
		t.Parallel()
		payload := randomBytes(t, 2*limit)
		srv := startServer(t, func(c net.Conn) {
			_, _ = c.Write(payload)
			_, _ = readAll(c)
		})
		p := newTestProxy(t, srv.addr())
		require.NoError(t, p.AddToxic("cut", Downstream, LimitData{Bytes: limit}, 1))
		c := dial(t, p.Addr())
		eventually(t, "the limit written", func() bool { return p.Stats().Downstream.Written == limit })
		for range 10 {
			_, err := c.Write([]byte("PING\r\n")) // the client's next requests
			require.NoError(t, err)
		}
		data, err := readAll(c)
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, limit, len(data))
		require.Equal(t, string(payload[:limit]), string(data))
		require.NoError(t, c.Close())
		eventually(t, "connection gone", func() bool { return p.Conns() == 0 })
	})
	t.Run("upstream", func(t *testing.T) {
		t.Parallel()
		got := make(chan []byte, 1)
		srv := startServer(t, func(c net.Conn) {
			go func() { // replies all along, also after the limit
				for {
					if _, err := c.Write([]byte("+OK\r\n")); err != nil {
						return
					}
				}
			}()
			data, _ := readAll(c)
			got <- data
		})
		p := newTestProxy(t, srv.addr())
		require.NoError(t, p.AddToxic("cut", Upstream, LimitData{Bytes: limit}, 1))
		c := dial(t, p.Addr())
		payload := randomBytes(t, 2*limit)
		go func() { _, _ = c.Write(payload) }() // fails once the proxy closes
		data := recv(t, got)
		require.Equal(t, limit, len(data))
		require.Equal(t, string(payload[:limit]), string(data))
		eventually(t, "connection gone", func() bool { return p.Conns() == 0 })
	})
}

func TestLimitDataUpdated(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("limit", Downstream, LimitData{Bytes: 8}, 1))
	c := dial(t, p.Addr())
	echoOnce(t, c, "123456")
	// The count survives the update: 6 bytes passed, 4 more allowed.
	require.NoError(t, p.UpdateToxic("limit", LimitData{Bytes: 10}, 1))
	_, err := c.Write([]byte("7890abc"))
	require.NoError(t, err)
	require.Equal(t, "7890", string(readN(t, c, 4)))
	requireEOF(t, c)
}

func TestBlackhole(t *testing.T) {
	t.Parallel()
	for _, dir := range []Direction{Upstream, Downstream} {
		t.Run(dir.String(), func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, startEcho(t).addr())
			c := dial(t, p.Addr())
			echoOnce(t, c, "before")
			// Added to an open connection, the toxic applies to the next bytes.
			require.NoError(t, p.AddToxic("hole", dir, Blackhole{}, 1))
			payload := randomBytes(t, 1<<20)
			_, err := c.Write(payload)
			require.NoError(t, err)
			counts := func() DirStats { return p.Stats().Upstream }
			if dir == Downstream {
				counts = func() DirStats { return p.Stats().Downstream }
			}
			eventually(t, "bytes swallowed", func() bool { return counts().Swallowed == int64(len(payload)) })
			require.Equal(t, int64(len("before")), counts().Written)
			require.Equal(t, 1, p.Conns(), "the connection stays open")

			require.NoError(t, p.RemoveToxic("hole"))
			// The echo of "after" is the first thing the client gets: the
			// swallowed megabyte is gone.
			echoOnce(t, c, "after")
		})
	}
}

func TestResetPeer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		dir     Direction
		open    bool // add the toxic after the connection is open
	}{
		{"at once", 0, Upstream, false},
		{"downstream at once", 0, Downstream, false},
		{"after timeout", 150 * time.Millisecond, Upstream, false},
		{"added to an open connection", 0, Downstream, true},
		{"open connection after timeout", 100 * time.Millisecond, Upstream, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, startEcho(t).addr())
			var c *net.TCPConn
			if tt.open {
				c = dial(t, p.Addr())
				echoOnce(t, c, "alive")
			}
			start := time.Now()
			require.NoError(t, p.AddToxic("rst", tt.dir, ResetPeer{Timeout: tt.timeout}, 1))
			var err error
			if tt.open {
				_, err = c.Read(make([]byte, 1))
			} else {
				err = dialAndRead(p.Addr())
			}
			require.ErrorIs(t, err, syscall.ECONNRESET)
			assert.GreaterOrEqual(t, time.Since(start), tt.timeout)
			eventually(t, "connection gone", func() bool { return p.Conns() == 0 })
		})
	}
}

func TestResetPeerRemovedInTime(t *testing.T) {
	t.Parallel()
	p := newTestProxy(t, startEcho(t).addr())
	require.NoError(t, p.AddToxic("rst", Upstream, ResetPeer{Timeout: time.Hour}, 1))
	c := dial(t, p.Addr())
	echoOnce(t, c, "alive")
	require.NoError(t, p.RemoveToxic("rst"))
	// Shortening an armed timer reschedules it from the original start.
	require.NoError(t, p.AddToxic("rst2", Upstream, ResetPeer{Timeout: time.Hour}, 1))
	require.NoError(t, p.UpdateToxic("rst2", ResetPeer{Timeout: 0}, 1))
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
}

func TestSlowClose(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	t.Run("downstream", func(t *testing.T) {
		t.Parallel()
		p := newTestProxy(t, startGreeter(t, []byte("bye")).addr())
		require.NoError(t, p.AddToxic("slow", Downstream, SlowClose{Delay: delay}, 1))
		start := time.Now()
		c := dial(t, p.Addr())
		require.Equal(t, "bye", string(readN(t, c, 3)))
		requireEOF(t, c)
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, delay)
		assert.Less(t, elapsed, delay+slack)
	})
	t.Run("upstream", func(t *testing.T) {
		t.Parallel()
		srv, got := startSink(t)
		p := newTestProxy(t, srv.addr())
		require.NoError(t, p.AddToxic("slow", Upstream, SlowClose{Delay: delay}, 1))
		c := dial(t, p.Addr())
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
		closed := time.Now()
		require.NoError(t, c.CloseWrite())
		r := recv(t, got)
		require.ErrorIs(t, r.err, io.EOF)
		require.Equal(t, "x", string(r.data))
		assert.GreaterOrEqual(t, r.at.Sub(closed), delay)
	})
	t.Run("removed while waiting", func(t *testing.T) {
		t.Parallel()
		p := newTestProxy(t, startGreeter(t, []byte("bye")).addr())
		require.NoError(t, p.AddToxic("slow", Downstream, SlowClose{Delay: time.Hour}, 1))
		c := dial(t, p.Addr())
		require.Equal(t, "bye", string(readN(t, c, 3)))
		require.NoError(t, p.RemoveToxic("slow"))
		requireEOF(t, c)
	})
}

// TestToxicity checks the per-connection decision with LimitData{0}, which
// closes a connection at its first byte when it applies and is invisible
// when it does not.
func TestToxicity(t *testing.T) {
	t.Parallel()
	const conns = 12
	tests := []struct {
		name     string
		toxicity float64
	}{
		{"never", 0},
		{"always", 1},
		{"half", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const seed = 99
			pattern := func() []bool {
				p := newTestProxy(t, startEcho(t).addr(), WithSeed(seed))
				require.NoError(t, p.AddToxic("cut", Upstream, LimitData{Bytes: 0}, tt.toxicity))
				var out []bool
				for range conns {
					out = append(out, cutAtFirstByte(t, p))
				}
				return out
			}
			first := pattern()
			for i, cut := range first {
				require.Equal(t, applies(seed, uint64(i), "cut", tt.toxicity), cut, "connection %d", i)
				switch tt.toxicity {
				case 0:
					require.False(t, cut)
				case 1:
					require.True(t, cut)
				}
			}
			if tt.toxicity == 0.5 {
				require.Contains(t, first, true)
				require.Contains(t, first, false)
			}
			require.Equal(t, first, pattern(), "same seed, same decisions")
		})
	}
}

// cutAtFirstByte opens a connection, sends a byte and reports whether the
// connection was closed instead of echoing it.
func cutAtFirstByte(t *testing.T, p *Proxy) bool {
	t.Helper()
	c := dial(t, p.Addr())
	defer c.Close()
	_, err := c.Write([]byte("?"))
	require.NoError(t, err)
	n, err := c.Read(make([]byte, 1))
	if n == 1 {
		return false
	}
	require.True(t, isEOFOrReset(err), "got %v", err)
	return true
}

// dialAndRead dials addr and reads one byte. It returns the error of the
// dial or of the read: a reset that comes right after the accept can already
// fail the dial.
func dialAndRead(addr string) error {
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}
