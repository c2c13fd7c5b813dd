package faultinject

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoLogAfterClose checks the Logger's promise for the calls that log on
// the caller's goroutine after a wait: when Close runs during that wait and
// returns, they log nothing (with t.Logf, a late line panics "Log in
// goroutine after Test has completed"). The afterWait hook closes the proxy
// at that moment, so the race is played the same way every time.
func TestNoLogAfterClose(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		call func(*Proxy) error
	}{
		{"CutAll", func(p *Proxy) error { p.CutAll(); return nil }},
		{"ResetAll", func(p *Proxy) error { p.ResetAll(); return nil }},
		{"RefuseNew", func(p *Proxy) error { return p.RefuseNew(true) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu     sync.Mutex
				closed bool     // guarded by mu: Close has returned
				late   []string // guarded by mu: lines logged after that
			)
			logf := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				if closed {
					late = append(late, fmt.Sprintf(format, args...))
				}
			}
			p, err := New("127.0.0.1:0", startEcho(t).addr(), WithLogger(logf))
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, p.Close()) })
			// A connection for CutAll and ResetAll to cut: it is open
			// once a message went through.
			echoOnce(t, dial(t, p.Addr()), "ping")
			waited := false
			p.afterWait = func() {
				waited = true
				require.NoError(t, p.Close())
				mu.Lock()
				closed = true
				mu.Unlock()
			}
			require.NoError(t, tt.call(p))
			require.True(t, waited, "the hook did not run")
			mu.Lock()
			defer mu.Unlock()
			require.Empty(t, late, "logged after Close returned")
		})
	}
}
