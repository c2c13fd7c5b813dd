package redisserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
)

const (
	// cleanupTimeout bounds the Stop that Run registers, and the cleanup
	// after a failed Start.
	cleanupTimeout = 30 * time.Second
	// pingTimeout bounds one readiness PING.
	pingTimeout = 2 * time.Second
	// logTailLines is how many log lines a StartError carries.
	logTailLines = 20
	// readyPollMin and readyPollMax bound the delay between readiness
	// probes, which doubles from the first to the second.
	readyPollMin = 2 * time.Millisecond
	readyPollMax = 100 * time.Millisecond
)

// Start starts a server and waits until it is ready: it answers a PING (with
// anything but a LOADING error) while its process, or container, lives,
// within ctx. The log line "Ready to accept connections" speeds the wait
// up, but a server that does not log it ("loglevel warning", a logfile) is
// ready all the same. On error nothing is left behind (process, directory,
// container). The caller must Stop the server; in tests, Run does it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	if err := s.firstStart(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		return nil, errors.Join(err, s.Stop(cctx))
	}
	return s, nil
}

// Run starts a server for the test tb, like Start, and fails the test (with
// the end of the server log) if it cannot. It registers the server's Stop
// with tb.Cleanup before it starts anything, so the server is stopped and
// removed at the end of the test however the test ends; if the test failed,
// the end of the server log is logged too. Start is bounded by
// Options.StartTimeout. Call Run from the test's goroutine.
func Run(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := newServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			if seq, _ := s.logs.mark(); seq > 0 {
				tb.Logf("redisserver %s: server log (last lines):\n%s", s.Addr(), s.logs.tailSince(0, logTailLines))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			tb.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(tb.Context(), s.opts.startTimeout())
	defer cancel()
	if err := s.firstStart(ctx); err != nil {
		tb.Fatal(err)
	}
	return s
}

// newServer validates opts and builds a Server that has not started.
func newServer(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	be, err := opts.Backend.resolve()
	if err != nil {
		return nil, err
	}
	opts.Backend = be
	// The caller keeps its slices; we keep copies.
	opts.Config = slices.Clone(opts.Config)
	opts.Args = slices.Clone(opts.Args)
	opts.Users = slices.Clone(opts.Users)
	for i := range opts.Users {
		opts.Users[i].Rules = slices.Clone(opts.Users[i].Rules)
	}
	if opts.TLS != nil {
		t := *opts.TLS
		opts.TLS = &t
	}
	s := &Server{opts: opts, backend: be, logs: newLogBuffer(opts.logLimit(), opts.Log)}
	if opts.TLS != nil {
		if s.clientTLS, err = clientTLSConfig(opts.TLS); err != nil {
			return nil, err
		}
	}
	switch be {
	case BackendBinary:
		s.b, err = newBinaryBackend(&s.opts, s.logs)
	case BackendContainer:
		s.b, err = newContainerBackend(&s.opts, s.logs)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// firstStart prepares the backend, chooses a port and starts the server,
// trying other ports when it loses a bind race.
func (s *Server) firstStart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return fmt.Errorf("redisserver: server already started")
	}
	host, err := s.b.prepare(ctx)
	if err != nil {
		return err
	}
	s.addrMu.Lock()
	s.host = host
	s.addrMu.Unlock()

	attempts := DefaultStartAttempts
	if s.opts.Port != 0 {
		attempts = 1
	}
	probeHost := host
	if s.backend == BackendContainer {
		// Docker binds the port on the gateway address; a port free on
		// every address is free there, also when the engine is not local.
		probeHost = "0.0.0.0"
	}
	for i := 0; ; i++ {
		port := s.opts.Port
		if port == 0 {
			if port, err = pickPort(probeHost, s.opts.Cluster); err != nil {
				return err
			}
		} else if !reservePort(port, s.opts.Cluster) {
			return fmt.Errorf("%w: port %d is used by another server of this process", ErrPortInUse, port)
		}
		s.reserved = true
		s.addrMu.Lock()
		s.port = port
		s.addrMu.Unlock()
		if s.portChosen != nil {
			s.portChosen(port)
		}

		err = s.startRun(ctx, "start", port)
		if err == nil {
			s.state = stateRunning
			return nil
		}
		if !errors.Is(err, ErrPortInUse) || i+1 >= attempts || ctx.Err() != nil {
			return err
		}
		// Lost a bind race: let go of this port and try another.
		if derr := s.b.discard(ctx); derr != nil {
			return errors.Join(err, derr)
		}
		releasePort(port, s.opts.Cluster)
		s.reserved = false
	}
}

// startRun starts one run on port and waits until it is ready. On failure
// the run is killed and the error is a *StartError.
func (s *Server) startRun(ctx context.Context, op string, port int) error {
	seq, readyBefore := s.logs.mark()
	fail := func(err error) error {
		if s.logs.anySince(seq, portInUseLine) && !errors.Is(err, ErrPortInUse) {
			err = fmt.Errorf("%w: %w", ErrPortInUse, err)
		}
		return &StartError{Op: op, Addr: s.Addr(), LogTail: s.logs.tailSince(seq, logTailLines), Err: err}
	}
	done, err := s.b.start(ctx, port)
	if err != nil {
		return fail(err)
	}
	if err := s.waitReady(ctx, readyBefore, done); err != nil {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		return fail(errors.Join(err, s.b.kill(kctx)))
	}
	return nil
}

// waitReady waits until the run whose end closes done is ready: it answers
// a PING with anything but a LOADING error, within ctx and while it lives.
// Any other reply counts, an error such as NOPERM (an AdminUser without
// PING) or a refused AUTH included (a password given in Options.Config
// rather than Options.Password): that is for the caller's commands to meet,
// not a reason to fail the start. A probe that can never succeed fails the
// wait at once (ErrNotReady): a TLS certificate that the probe's TLS
// configuration rejects, presented by this run.
//
// The "Ready to accept connections" line is only a hint: Redis logs it at
// notice level, so with "loglevel warning" or a logfile it never comes.
// When it comes (one more than readyBefore), it wakes the wait at once, and
// it shows that this run holds the port. Without it, the server that
// answers may be another process's, which took the port before this run
// could bind it (this run then exits with "Address already in use"). For
// the binary backend the probe then asks who holds the listening socket
// (portOwner: on Linux, the sockets the run's process, or its process
// group, has open), which needs no answer from the server. Where that
// cannot be told, it asks INFO for the server's config_file, and accepts
// only this server's redis.conf (unique to it, and the same through a
// wrapper script that does not exec), or a NOPERM reply to INFO (the user
// Do runs as may not be allowed INFO; that is not proof: another server
// with the same user would answer alike); a server that refuses the probe
// (NOAUTH, WRONGPASS) fails the wait at once, as its identity cannot be
// checked. A server that is not this run's is ErrPortInUse. When the run
// exits before it is ready, whatever still accepts connections on the port
// is someone else's too (the run is gone): ErrPortInUse again, which makes
// Start try another port when it chose this one. A container's port is
// published by Docker, which fails the start when another process holds
// it, so whoever answers there is the container.
func (s *Server) waitReady(ctx context.Context, readyBefore int, done <-chan struct{}) error {
	var id *runIdentity // the binary backend's run, whose identity probes check
	if b, ok := s.b.(*binaryBackend); ok {
		id = &runIdentity{conf: filepath.Join(b.dir, "redis.conf"), pid: b.run.proc.Pid}
	}
	delay := readyPollMin
	var lastErr error
	// exited is the error for a run that ended before it was ready. The
	// run's "Address already in use" may have gone to a logfile, and the
	// run may have ended before any probe met the server that holds the
	// port: then one more probe asks whoever answers there.
	exited := func() error {
		if id != nil && !errors.Is(lastErr, ErrPortInUse) {
			dctx, cancel := context.WithTimeout(ctx, pingTimeout)
			var d net.Dialer
			if c, err := d.DialContext(dctx, "tcp", s.Addr()); err == nil {
				_ = c.Close()
				lastErr = fmt.Errorf("%w: %s accepts connections after this server exited", ErrPortInUse, s.Addr())
			}
			cancel()
		}
		if errors.Is(lastErr, ErrPortInUse) {
			return fmt.Errorf("%w: %w", ErrExited, lastErr)
		}
		return ErrExited
	}
	for {
		n, changed := s.logs.readyState()
		logged := n > readyBefore
		err := s.probeReady(ctx, done, id, logged)
		var perr *permanentError
		if err != nil && !errors.As(err, &perr) {
			lastErr = err
		}
		select {
		case <-done:
			// The run ended: whoever answered, it was not this run.
			return exited()
		default:
		}
		switch {
		case err == nil:
			return nil
		case perr != nil:
			return fmt.Errorf("%w: %w", ErrNotReady, perr.err)
		}
		// Wait for the next probe: the delay, or the ready line if it has not
		// come yet; not after the run ended or the context.
		t := time.NewTimer(delay)
		delay = min(2*delay, readyPollMax)
	wait:
		for {
			select {
			case <-t.C:
				break wait
			case <-changed:
				if n, changed = s.logs.readyState(); n > readyBefore && !logged {
					t.Stop()
					break wait
				}
			case <-done:
				t.Stop()
				return exited()
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w: %w", ErrNotReady, errors.Join(ctx.Err(), lastErr))
			}
		}
	}
}

// runIdentity is what tells a binary-backend run's server from another
// process's on the same port.
type runIdentity struct {
	conf string // the run's redis.conf, which INFO's config_file names
	pid  int    // the run's process, leader of its process group
}

// permanentError is a probe's finding that no later probe can change.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// probeReady sends one readiness PING (and INFO server when the server's
// identity is to be checked, see waitReady) on one connection, bounded by
// pingTimeout and by the end of the run (done; nil: not bounded by it). It
// returns nil when the server is ready, and a *permanentError when it
// never will be.
func (s *Server) probeReady(ctx context.Context, done <-chan struct{}, id *runIdentity, logged bool) error {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	// A run that exits (a lost bind race) ends a probe that another
	// process's listener keeps waiting.
	go func() {
		select {
		case <-done:
			cancel()
		case <-pctx.Done():
		}
	}()
	verify := id != nil && !logged
	cmds := [][]any{{"PING"}}
	if verify {
		cmds = append(cmds, []any{"INFO", "server"})
	}
	replies, err := s.DoAll(pctx, cmds...)
	// Who answered: asked after the answer. A listening socket is
	// exclusive, so a run that holds it now held it when the server
	// answered (unless the one that answered closed it since, and this run
	// took its place: as good).
	owner := func() portOwnership {
		if !verify {
			return portOwnerThisRun // see waitReady
		}
		return lookupPortOwner(id.pid, s.Port())
	}
	if err != nil {
		if isCertVerifyError(err) {
			switch owner() {
			case portOwnerOther:
				return fmt.Errorf("%w: %s is answered by a server whose TLS certificate is not this one's (%w)", ErrPortInUse, s.Addr(), err)
			case portOwnerNobody:
				return err
			}
			return &permanentError{fmt.Errorf("the TLS certificate of %s fails the verification of the readiness probe, which uses the TLS configuration of Do (TLSOptions.ClientConfig, or TLSOptions.CAFile and the host of Addr): %w", s.Addr(), err)}
		}
		var rerr *resp.Error
		if errors.As(err, &rerr) { // a refused AUTH
			return s.probeRefused(owner(), err)
		}
		return err
	}
	if v := replies[0]; v.IsError() {
		var rerr *resp.Error
		if errors.As(v.Err(), &rerr) && rerr.Prefix == "LOADING" {
			return fmt.Errorf("PING: %w", rerr)
		}
	}
	if !verify {
		return nil
	}
	switch owner() {
	case portOwnerThisRun:
		return nil
	case portOwnerOther:
		return fmt.Errorf("%w: %s is answered by another process's server, not by this one", ErrPortInUse, s.Addr())
	case portOwnerNobody:
		return fmt.Errorf("%s: nothing listens there any more", s.Addr())
	}
	// Who holds the port cannot be told here: ask the server.
	if info := replies[1]; info.IsError() {
		var rerr *resp.Error
		if errors.As(info.Err(), &rerr) {
			switch rerr.Prefix {
			case "NOPERM":
				return nil // ours, presumably, with a user not allowed INFO (see waitReady)
			case "NOAUTH", "WRONGPASS":
				return s.probeRefused(portOwnerUnknown, fmt.Errorf("INFO: %w", rerr))
			}
		}
		return fmt.Errorf("%w: %s is answered by a server that refuses INFO (%v): not this one", ErrPortInUse, s.Addr(), info.Err())
	}
	if got := infoField(replies[1].Text(), "config_file"); got != id.conf {
		return fmt.Errorf("%w: %s is answered by the server of %q, not by this one (%s)", ErrPortInUse, s.Addr(), got, id.conf)
	}
	return nil
}

// probeRefused is probeReady's finding for a server that refused its AUTH
// or, without AUTH, its commands (err), held by owner.
func (s *Server) probeRefused(owner portOwnership, err error) error {
	switch owner {
	case portOwnerThisRun:
		return nil // an answer: see waitReady
	case portOwnerOther:
		return fmt.Errorf("%w: %s is answered by a server that refuses us (%w): not this one", ErrPortInUse, s.Addr(), err)
	case portOwnerNobody:
		return err
	}
	return &permanentError{fmt.Errorf("%s refuses the readiness probe (%w), so whether it is this server or another process's cannot be checked: "+
		"give the server's password as Options.Password (or Users and AdminUser), not in Config or Args, or let it log at notice level", s.Addr(), err)}
}

// isCertVerifyError reports whether err is the failure of a TLS
// certificate's verification.
func isCertVerifyError(err error) bool {
	var (
		verr     *tls.CertificateVerificationError
		hostErr  x509.HostnameError
		authErr  x509.UnknownAuthorityError
		validErr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &hostErr) || errors.As(err, &authErr) || errors.As(err, &validErr)
}

// infoField returns the value of field in an INFO reply, or "".
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), field+":"); ok {
			return v
		}
	}
	return ""
}
