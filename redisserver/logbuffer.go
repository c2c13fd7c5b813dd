package redisserver

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// readyLine is what redis-server logs once it accepts connections (Redis 7.2
// appends the listener kinds: "Ready to accept connections tcp").
const readyLine = "Ready to accept connections"

// portInUseLine is in the log of a redis-server that could not bind its port
// (or its cluster bus port).
const portInUseLine = "Address already in use"

// logBuffer keeps the newest lines of a server's log, across restarts, and
// lets a starter wait for the next "ready" line.
type logBuffer struct {
	max int       // byte budget for lines; immutable
	tee io.Writer // Options.Log, or nil; written under teeMu

	teeMu sync.Mutex // serialises writes to tee

	mu      sync.Mutex
	lines   []string      // guarded by mu: the newest lines, without "\n"
	first   int           // guarded by mu: sequence number of lines[0]
	size    int           // guarded by mu: bytes in lines
	ready   int           // guarded by mu: ready lines seen so far
	changed chan struct{} // guarded by mu: closed and replaced when a line is added
}

func newLogBuffer(max int, tee io.Writer) *logBuffer {
	return &logBuffer{max: max, tee: tee, changed: make(chan struct{})}
}

// add appends one line (without its "\n").
func (l *logBuffer) add(line string) {
	if l.tee != nil {
		l.teeMu.Lock()
		_, _ = io.WriteString(l.tee, line+"\n")
		l.teeMu.Unlock()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.size += len(line) + 1
	for l.size > l.max && len(l.lines) > 1 {
		l.size -= len(l.lines[0]) + 1
		l.lines[0] = ""
		l.lines = l.lines[1:]
		l.first++
	}
	if strings.Contains(line, readyLine) {
		l.ready++
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// mark returns the sequence number of the next line and the ready count, to
// look at what one start attempt logged.
func (l *logBuffer) mark() (seq, ready int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first + len(l.lines), l.ready
}

// readyState returns the ready count and a channel closed at the next line.
func (l *logBuffer) readyState() (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready, l.changed
}

// since returns the lines from sequence number seq on (those still kept).
func (l *logBuffer) since(seq int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := max(seq-l.first, 0)
	if i >= len(l.lines) {
		return nil
	}
	return append([]string(nil), l.lines[i:]...)
}

// String returns the kept log, one line per "\n".
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	b.Grow(l.size)
	for _, line := range l.lines {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// tailSince returns at most n lines logged from seq on.
func (l *logBuffer) tailSince(seq, n int) string {
	lines := l.since(seq)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// anySince reports whether a line logged from seq on contains sub.
func (l *logBuffer) anySince(seq int, sub string) bool {
	for _, line := range l.since(seq) {
		if strings.Contains(line, sub) {
			return true
		}
	}
	return false
}

// lineWriter is an io.Writer that cuts what it is given into lines for a
// logBuffer, skipping the first skip lines (a container's log stream starts
// with the lines of its earlier runs). It is not safe for concurrent use.
type lineWriter struct {
	log     *logBuffer
	skip    int    // lines still to skip
	partial []byte // an incomplete last line
	n       int    // complete lines seen, skipped ones included
}

// Write implements io.Writer; it never fails.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			break
		}
		w.partial = append(w.partial, p[:i]...)
		p = p[i+1:]
		w.line()
	}
	return n, nil
}

// flush hands over an incomplete last line, at the end of the stream.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line()
	}
}

func (w *lineWriter) line() {
	w.n++
	if w.skip > 0 {
		w.skip--
	} else {
		w.log.add(strings.TrimRight(string(w.partial), "\r"))
	}
	w.partial = w.partial[:0]
}
