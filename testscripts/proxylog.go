package testscripts

import (
	"fmt"
	"sync"

	"github.com/justredis/justredis/faultinject"
	"github.com/rogpeppe/go-internal/testscript"
)

// maxProxyLogLines bounds the lines proxyLog holds between two flushes; it
// counts the others and says how many it dropped.
const maxProxyLogLines = 1000

// proxyLog carries what the script's proxies log into the script's log.
// The proxies log from their own goroutines, and ts.Logf is not safe for
// concurrent use (nor to call once the script is over), so the lines wait
// here until the script's goroutine copies them (flush): at the start and
// the end of each of the package's commands, a failing one included, and
// at the cleanup, after the proxies are closed. A line therefore shows
// next to the command during which it was logged (or the next command of
// the package), and, like the rest of the log, only in a failing phase or
// with -v.
type proxyLog struct {
	mu      sync.Mutex
	lines   []string // guarded by mu; not yet flushed, oldest first
	dropped int      // guarded by mu; lines dropped since the last flush
}

// logger returns the faultinject.Logger of the proxy called name.
func (l *proxyLog) logger(name string) faultinject.Logger {
	return func(format string, args ...any) {
		line := "proxy " + name + ": " + fmt.Sprintf(format, args...)
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.lines) >= maxProxyLogLines {
			l.dropped++
			return
		}
		l.lines = append(l.lines, line)
	}
}

// flush copies the lines logged so far into the script's log. It must be
// called on the script's goroutine.
func (l *proxyLog) flush(ts *testscript.TestScript) {
	l.mu.Lock()
	lines, dropped := l.lines, l.dropped
	l.lines, l.dropped = nil, 0
	l.mu.Unlock()
	for _, line := range lines {
		ts.Logf("%s", line)
	}
	if dropped > 0 {
		ts.Logf("proxies: %d more lines dropped", dropped)
	}
}
