package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/justredis/justredis/resp"
)

// dialer opens handshaken connections for one node: its endpoints are tried
// in order, ConnectRetry times, with backoff in between.
type dialer struct {
	s   *settings
	eps []endpoint
}

// rawConn is a dialled, handshaken connection not yet running its loops.
type rawConn struct {
	nc    net.Conn
	rd    *resp.Reader
	addr  string
	proto int
	hello resp.Value // the HELLO reply (server info) on RESP3, else null
}

// dial returns a handshaken connection to the first endpoint that answers.
// An authentication failure ends it at once: retrying cannot fix it.
func (d *dialer) dial(ctx context.Context) (*rawConn, error) {
	var last error
	for attempt := 0; attempt < d.s.connectRetry; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, backoff(attempt)); err != nil {
				return nil, errors.Join(last, err)
			}
		}
		for _, ep := range d.eps {
			rc, err := d.dialOne(ctx, ep)
			if err == nil {
				return rc, nil
			}
			last = err
			if errors.Is(err, ErrAuth) || ctx.Err() != nil {
				return nil, err
			}
		}
	}
	return nil, last
}

// backoff is the pause before dial attempt n (n >= 1): 50ms doubling, at
// most 1s, with ±25% jitter.
func backoff(n int) time.Duration {
	d := 50 * time.Millisecond << min(max(n, 1)-1, 5)
	d = min(d, time.Second)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dialOne dials one endpoint and handshakes, within ConnectTimeout.
func (d *dialer) dialOne(ctx context.Context, ep endpoint) (*rawConn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.s.connectTimeout)
	defer cancel()
	nc, err := d.s.dial(ctx, ep.network, ep.addr)
	if err != nil {
		return nil, connErr("dial", err)
	}
	if nc == nil {
		return nil, connErr("dial", errors.New("the Dialer returned neither a connection nor an error"))
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		if d.s.tuneNoDelay {
			_ = tc.SetNoDelay(d.s.noDelay)
		}
		if d.s.tuneKeepAlive {
			_ = tc.SetKeepAlive(d.s.keepAlive > 0)
			if d.s.keepAlive > 0 {
				_ = tc.SetKeepAlivePeriod(d.s.keepAlive)
			}
		}
	}
	if d.s.tls != nil {
		cfg := d.s.tls
		if cfg.ServerName == "" && ep.network == "tcp" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(ep.addr)
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, connErr("TLS handshake", err)
		}
		nc = tc
	}
	// The handshake is synchronous: bound it by the same deadline, and
	// unblock it if ctx is cancelled.
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := interruptIO(ctx, nc)
	rc := &rawConn{nc: nc, rd: resp.NewReaderSize(newSpinReader(nc), d.s.recvBufferSize, resp.Limits{}), addr: ep.String()}
	err = handshake(rc, d.s)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		if ctx.Err() != nil && !errors.Is(err, ErrAuth) {
			return nil, connErr("handshake", errors.Join(ctx.Err(), err))
		}
		return nil, err
	}
	return rc, nil
}

// handshake negotiates the protocol and authenticates: HELLO 3 with AUTH and
// SETNAME, falling back to RESP2 (AUTH, CLIENT SETNAME) when the server does
// not know HELLO or RESP3, unless Protocol forces one.
func handshake(rc *rawConn, s *settings) error {
	if s.protocol != 2 {
		args := handshakeCommands(s, 3)[0]
		v, err := roundTrip(rc, args)
		if err != nil {
			return err
		}
		if e := v.Err(); e == nil {
			rc.proto, rc.hello = 3, v
			return nil
		} else if s.protocol == 3 || !helloUnsupported(e) {
			return handshakeErr("HELLO", e)
		}
	}
	rc.proto = 2
	// PING proves the connection works (and says NOAUTH when a password is
	// needed and none was given). A NOPERM answer proves it too: an ACL
	// user may be denied PING. A user denied CLIENT SETNAME goes unnamed,
	// as on RESP3, where HELLO's SETNAME is not checked against the ACL.
	for _, args := range append(handshakeCommands(s, 2), []string{"PING"}) {
		v, err := roundTrip(rc, args)
		if err != nil {
			return err
		}
		if e := v.Err(); e != nil && (args[0] == "AUTH" || resp.ErrorPrefix(e) != "NOPERM") {
			return handshakeErr(args[0], e)
		}
	}
	return nil
}

// handshakeCommands are the commands that set up a connection for protocol
// proto: HELLO 3 with AUTH and SETNAME, or (RESP2) AUTH and CLIENT SETNAME.
func handshakeCommands(s *settings, proto int) [][]string {
	if proto == 3 {
		args := []string{"HELLO", "3"}
		if s.password != "" || s.username != "" {
			args = append(args, "AUTH", orString(s.username, "default"), s.password)
		}
		if s.clientName != "" {
			args = append(args, "SETNAME", s.clientName)
		}
		return [][]string{args}
	}
	var cmds [][]string
	if s.password != "" || s.username != "" {
		if s.username != "" {
			cmds = append(cmds, []string{"AUTH", s.username, s.password})
		} else {
			cmds = append(cmds, []string{"AUTH", s.password})
		}
	}
	if s.clientName != "" {
		cmds = append(cmds, []string{"CLIENT", "SETNAME", s.clientName})
	}
	return cmds
}

// helloUnsupported: the server predates HELLO (Redis < 6) or RESP3.
func helloUnsupported(e error) bool {
	p := resp.ErrorPrefix(e)
	return p == "NOPROTO" || (p == "ERR" && strings.Contains(strings.ToLower(e.Error()), "unknown command"))
}

// handshakeErr classifies a refusal during the handshake.
func handshakeErr(cmd string, e error) error {
	switch resp.ErrorPrefix(e) {
	case "WRONGPASS", "NOAUTH", "NOPERM":
		return fmt.Errorf("%w: %s: %w", ErrAuth, cmd, e)
	}
	if strings.Contains(e.Error(), "AUTH") || strings.Contains(e.Error(), "password") {
		return fmt.Errorf("%w: %s: %w", ErrAuth, cmd, e)
	}
	return connErr("handshake", fmt.Errorf("%s: %w", cmd, e))
}

// roundTrip sends one command and reads its reply, synchronously.
func roundTrip(rc *rawConn, args []string) (resp.Value, error) {
	if _, err := rc.nc.Write(resp.AppendCommandStrings(nil, args...)); err != nil {
		return resp.Value{}, connErr("handshake", err)
	}
	for {
		v, err := rc.rd.ReadValue()
		if err != nil {
			return resp.Value{}, connErr("handshake", err)
		}
		if v.Type != resp.TypePush {
			return v, nil
		}
	}
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// interruptIO makes blocking I/O on nc fail at once when ctx ends (the
// Mux's ctx ends with Close): for the synchronous round trips that set up a
// connection. stop undoes it, and reports false when ctx ended first (nc
// may then hold a passed deadline). A deadline set while it is armed must
// be set with armDeadline, which does not undo an interruption.
func interruptIO(ctx context.Context, nc net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
}

// armDeadline sets nc's deadline to d and returns ctx's error, if ctx has
// ended: interruptIO's passed deadline may have come before d, which
// replaced it. (Set, then check: the interruption runs after ctx ends.)
func armDeadline(ctx context.Context, nc net.Conn, d time.Time) error {
	_ = nc.SetDeadline(d)
	return ctx.Err()
}
