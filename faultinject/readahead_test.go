package faultinject

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLatencyPipelined sends small messages, one every few milliseconds,
// through a Latency toxic: each must arrive Delay after it was sent, however
// many are in flight. The reader used to hand over only a few chunks and then
// stop reading while Latency held them, so later messages waited in the
// kernel, were stamped late, and took up to twice the delay.
func TestLatencyPipelined(t *testing.T) {
	t.Parallel()
	const (
		delay    = 400 * time.Millisecond
		messages = 100
		interval = 5 * time.Millisecond // 80 messages in flight per delay
	)
	arrivals := make(chan []time.Time, 1)
	srv := startServer(t, func(c net.Conn) {
		at := make([]time.Time, messages)
		var msg [4]byte
		for range messages {
			if _, err := io.ReadFull(c, msg[:]); err != nil {
				return
			}
			at[binary.BigEndian.Uint32(msg[:])] = time.Now()
		}
		arrivals <- at
	})
	p := newTestProxy(t, srv.addr())
	require.NoError(t, p.AddToxic("lat", Upstream, Latency{Delay: delay}, 1))
	c := dial(t, p.Addr())

	sent := make([]time.Time, messages)
	tick := time.NewTicker(interval) // paces the client, as a pipelining client would
	defer tick.Stop()
	for i := range messages {
		var msg [4]byte
		binary.BigEndian.PutUint32(msg[:], uint32(i))
		sent[i] = time.Now()
		_, err := c.Write(msg[:])
		require.NoError(t, err)
		<-tick.C
	}
	at := recv(t, arrivals)

	var worst time.Duration
	for i := range messages {
		d := at[i].Sub(sent[i])
		require.GreaterOrEqual(t, d, delay, "message %d", i)
		worst = max(worst, d)
	}
	t.Logf("worst one-way delay %v with Latency{Delay: %v}", worst, delay)
	assert.Less(t, worst, delay*3/2, "a message was delayed well beyond Delay")
}

// TestLatencyThroughput sends a bulk transfer through a Latency toxic: it
// must take about Delay longer than without, not a Delay per few chunks. The
// reader's queue used to be bounded by a count of chunks, so at most about
// 200 KiB passed per Delay and 4 MiB took seconds.
func TestLatencyThroughput(t *testing.T) {
	t.Parallel()
	const (
		size  = readAhead / 2
		delay = 200 * time.Millisecond
	)
	srv, got := startSink(t)
	p := newTestProxy(t, srv.addr())
	require.NoError(t, p.AddToxic("lat", Upstream, Latency{Delay: delay}, 1))
	c := dial(t, p.Addr())
	payload := randomBytes(t, size)

	start := time.Now()
	werr := make(chan error, 1)
	go func() { werr <- writeAndClose(c, payload) }()
	r := recv(t, got)
	elapsed := r.at.Sub(start)
	require.NoError(t, recv(t, werr))
	require.ErrorIs(t, r.err, io.EOF)
	require.Equal(t, sha256.Sum256(payload), sha256.Sum256(r.data))
	t.Logf("%d MiB through Latency{Delay: %v} in %v", size>>20, delay, elapsed)
	assert.GreaterOrEqual(t, elapsed, delay)
	// At the old pace (6 chunks of 32 KiB per Delay) it took 4.3 s.
	assert.Less(t, elapsed, delay+1500*time.Millisecond)
}

// TestReadAheadBounded holds a direction with a long Latency while the client
// sends more than the proxy may hold: the proxy reads ahead up to readAhead
// bytes and no more (the rest waits in the kernel), and once the toxic is removed every byte arrives, in order.
func TestReadAheadBounded(t *testing.T) {
	t.Parallel()
	require.Equal(t, 8<<20, readAhead, "the docs say 8 MiB")
	srv, got := startSink(t)
	p := newTestProxy(t, srv.addr())
	require.NoError(t, p.AddToxic("lat", Upstream, Latency{Delay: time.Hour}, 1))
	c := dial(t, p.Addr())
	payload := randomBytes(t, 2*readAhead)
	werr := make(chan error, 1)
	go func() { werr <- writeAndClose(c, payload) }()

	read := func() int64 { return p.Stats().Upstream.Read }
	eventually(t, "the proxy reads ahead", func() bool { return read() >= readAhead/2 })
	// While the toxic holds everything, the bound holds: watch it a while.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); <-tick.C {
		require.LessOrEqual(t, read(), int64(readAhead))
		require.Zero(t, p.Stats().Upstream.Written)
	}

	require.NoError(t, p.RemoveToxic("lat"))
	r := recv(t, got)
	require.NoError(t, recv(t, werr))
	require.ErrorIs(t, r.err, io.EOF)
	require.Equal(t, len(payload), len(r.data))
	require.Equal(t, sha256.Sum256(payload), sha256.Sum256(r.data))
}

// writeAndClose writes payload to c and closes its write side. It runs on its
// own goroutine, so it returns the error instead of failing the test.
func writeAndClose(c *net.TCPConn, payload []byte) error {
	if _, err := c.Write(payload); err != nil {
		return err
	}
	return c.CloseWrite()
}
