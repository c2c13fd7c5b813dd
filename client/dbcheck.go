package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// checkDB makes sure, once per database number, that the server accepts
// SELECT n, on a connection of its own: SELECT is injected into the shared
// connection's stream, where a refusal would leave the commands after it
// running in the wrong database. Concurrent first uses share one check, run
// in the background so that one caller's short ctx does not spoil it.
func (m *Mux) checkDB(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	if n < 0 {
		return &CommandError{Command: "SELECT", Err: fmt.Errorf("%w: %d", ErrInvalidDB, n)}
	}
	if m.router.Sharded() || m.single == nil {
		return &CommandError{Command: "SELECT", Err: fmt.Errorf("%w: %d: a cluster has only database 0", ErrInvalidDB, n)}
	}
	m.dbMu.Lock()
	p := m.dbs[n]
	if p == nil {
		if m.dbs == nil {
			m.dbs = map[int]*dbCheck{}
		}
		p = &dbCheck{done: make(chan struct{})}
		if !m.spawn(func() { m.probeDB(n, p) }) {
			m.dbMu.Unlock()
			return &RequestError{Exec: NotSent, Err: ErrClosed}
		}
		m.dbs[n] = p
	}
	m.dbMu.Unlock()
	select {
	case <-p.done:
	case <-ctx.Done():
		return &RequestError{Addr: m.single.addr(), Exec: NotSent, Err: ctx.Err()}
	}
	return p.err
}

// dbCheck is the state of one database number's check.
type dbCheck struct {
	done chan struct{} // closed when err is set
	err  error         // nil: valid; a *CommandError: refused; other: the check failed
}

func (m *Mux) probeDB(n int, p *dbCheck) {
	err := m.selectOnce(n)
	var ce *CommandError
	if err != nil && !errors.As(err, &ce) {
		// The check itself failed (server down...): forget it, so that a
		// later command checks again.
		m.dbMu.Lock()
		delete(m.dbs, n)
		m.dbMu.Unlock()
	}
	p.err = err
	close(p.done)
}

// selectOnce dials a connection of its own and tries SELECT n.
func (m *Mux) selectOnce(n int) error {
	ctx, cancel := context.WithTimeout(m.ctx, m.s.dialBudget())
	defer cancel()
	d := dialer{s: m.s, eps: m.s.endpoints}
	rc, err := d.dial(ctx)
	if err != nil {
		return &RequestError{Addr: m.single.addr(), Exec: NotSent, Err: err}
	}
	defer rc.nc.Close()
	_ = rc.nc.SetDeadline(time.Now().Add(m.s.connectTimeout))
	defer interruptIO(ctx, rc.nc)()
	v, err := roundTrip(rc, []string{"SELECT", itoa(n)})
	if err != nil {
		if m.ctx.Err() != nil {
			err = ErrClosed // interrupted by Close
		}
		return &RequestError{Addr: rc.addr, Exec: NotSent, Err: err}
	}
	if e := v.Err(); e != nil {
		return &CommandError{Command: "SELECT", Err: fmt.Errorf("%w %d: %w", ErrInvalidDB, n, e)}
	}
	return nil
}
