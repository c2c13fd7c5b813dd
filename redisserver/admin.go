package redisserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/justredis/justredis/resp"
)

// Do sends one command to the server on a new connection and returns the
// reply. It is an administration call for tests and harnesses, not a
// client: each call dials (with TLS when configured), authenticates with
// Options.Password or Options.AdminUser, sends the command and closes the
// connection.
//
// The context bounds all of it, its deadline becoming the connection's; a
// context that ends returns an error matching ctx.Err(). An error reply is
// returned both as the Value and as an error that is a *resp.Error (use
// errors.As). Arguments are encoded by resp.AppendArg: strings, byte
// slices, integers, floats and booleans.
func (s *Server) Do(ctx context.Context, args ...any) (resp.Value, error) {
	if len(args) == 0 {
		return resp.Value{}, fmt.Errorf("%w: Do needs a command", ErrInvalidOptions)
	}
	cmd, err := resp.AppendCommand(nil, args...)
	if err != nil {
		return resp.Value{}, fmt.Errorf("redisserver: encode command: %w", err)
	}
	name := fmt.Sprint(args[0])
	replies, err := s.roundTrip(ctx, cmd, 1)
	if err != nil {
		return resp.Value{}, fmt.Errorf("redisserver: %s %s: %w", name, s.Addr(), err)
	}
	if v := replies[0]; v.IsError() {
		return v, fmt.Errorf("redisserver: %s %s: %w", name, s.Addr(), v.Err())
	}
	return replies[0], nil
}

// DoAll is Do for several commands: it sends them in one write on one new
// connection (after the same AUTH) and returns one reply per command, in
// order. Error replies are returned as Values (v.IsError(), v.Err() is a
// *resp.Error), not as errors: the error is for what kept the replies
// from being read (a refused AUTH included), and matches ctx.Err() when
// the context ended.
func (s *Server) DoAll(ctx context.Context, cmds ...[]any) ([]resp.Value, error) {
	var out []byte
	for _, c := range cmds {
		if len(c) == 0 {
			return nil, fmt.Errorf("%w: DoAll needs non-empty commands", ErrInvalidOptions)
		}
		var err error
		if out, err = resp.AppendCommand(out, c...); err != nil {
			return nil, fmt.Errorf("redisserver: encode command: %w", err)
		}
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	replies, err := s.roundTrip(ctx, out, len(cmds))
	if err != nil {
		return nil, fmt.Errorf("redisserver: %s: %w", s.Addr(), err)
	}
	return replies, nil
}

// roundTrip dials, authenticates, writes out (n encoded commands) and reads
// their n replies, error replies included.
func (s *Server) roundTrip(ctx context.Context, out []byte, n int) ([]resp.Value, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer conn.Close()
	// Make the context's end interrupt blocked reads and writes.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}

	auth := s.opts.authArgs()
	if auth != nil {
		out = append(resp.AppendCommandStrings(nil, auth...), out...)
	}
	if _, err := conn.Write(out); err != nil {
		return nil, ctxErr(ctx, err)
	}
	r := resp.NewReader(conn, resp.Limits{})
	if auth != nil {
		v, err := r.ReadValue()
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		if v.IsError() {
			return nil, fmt.Errorf("AUTH: %w", v.Err())
		}
	}
	replies := make([]resp.Value, n)
	for i := range replies {
		if replies[i], err = r.ReadValue(); err != nil {
			return nil, ctxErr(ctx, err)
		}
	}
	return replies, nil
}

// dial connects to Addr, with TLS when the server speaks it.
func (s *Server) dial(ctx context.Context) (net.Conn, error) {
	if s.opts.TLS == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.Addr())
	}
	d := tls.Dialer{Config: s.clientTLS}
	return d.DialContext(ctx, "tcp", s.Addr())
}

// ctxErr makes err match the context's error when the context has ended.
// The connection's deadline is the context's, and may fire a moment before
// the context says it is done: a timeout at or past the deadline counts as
// context.DeadlineExceeded.
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil {
		var ne net.Error
		if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
			cerr = context.DeadlineExceeded
		}
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// clientTLSConfig returns the TLS configuration Do uses.
func clientTLSConfig(t *TLSOptions) (*tls.Config, error) {
	if t.ClientConfig != nil {
		return t.ClientConfig.Clone(), nil
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("%w: TLS CA: %w", ErrInvalidOptions, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: TLS CA file %s holds no PEM certificate", ErrInvalidOptions, t.CAFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if t.AuthClients {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS key pair: %w", ErrInvalidOptions, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
