package redisserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var tee syncBuffer
	l := newLogBuffer(1<<10, &tee)
	w := &lineWriter{log: l, skip: 2}
	for _, chunk := range []string{"old 1\nold", " 2\nnew 1\r\n", "new 2\n", "partial"} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		assert.Equal(t, len(chunk), n)
	}
	assert.Equal(t, "new 1\nnew 2\n", l.String())
	w.flush()
	assert.Equal(t, "new 1\nnew 2\npartial\n", l.String())
	assert.Equal(t, 5, w.n, "skipped lines count too")
	assert.Equal(t, l.String(), tee.String())
}

func TestLogBuffer(t *testing.T) {
	t.Parallel()
	l := newLogBuffer(40, nil)
	seq, ready := l.mark()
	assert.Zero(t, seq)
	assert.Zero(t, ready)
	n, changed := l.readyState()
	assert.Zero(t, n)
	l.add("1:M * Server initialized")
	select {
	case <-changed:
	default:
		t.Fatal("adding a line must signal")
	}
	l.add("1:M * " + readyLine)
	n, _ = l.readyState()
	assert.Equal(t, 1, n)

	// Old lines go when over the limit; sequence numbers continue.
	l.add("bind: " + portInUseLine)
	assert.LessOrEqual(t, len(l.String()), 40+len("bind: "+portInUseLine)+1)
	seq, _ = l.mark()
	assert.Equal(t, 3, seq)
	assert.True(t, l.anySince(2, portInUseLine))
	assert.False(t, l.anySince(3, portInUseLine))
	assert.Equal(t, "bind: "+portInUseLine, l.tailSince(0, 1))
	assert.Empty(t, l.since(10))
	// One line over the limit is still kept.
	long := strings.Repeat("x", 100)
	l.add(long)
	assert.Equal(t, long+"\n", l.String())
}

func TestStartErrorMessage(t *testing.T) {
	t.Parallel()
	err := &StartError{Op: "start", Addr: "127.0.0.1:1", LogTail: "a\nb", Err: ErrExited}
	assert.ErrorIs(t, err, ErrExited)
	assert.Equal(t, "redisserver: start 127.0.0.1:1: redisserver: server exited during startup\n\tserver log (last lines):\n\t\ta\n\t\tb", err.Error())
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
	return p
}
