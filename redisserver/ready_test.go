package redisserver

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadyWithoutReadyLine starts servers that never log "Ready to accept
// connections" (Redis logs it at notice level): they are ready once they
// answer a PING, with every way of reaching them (password, ACL user, TLS,
// unix socket), and so after a Restart.
func TestReadyWithoutReadyLine(t *testing.T) {
	t.Parallel()
	certs := writeTestCerts(t)
	quiet := []string{"loglevel warning"}
	tests := []struct {
		name string
		opts Options
	}{
		{name: "config", opts: Options{Config: quiet}},
		{name: "args", opts: Options{Args: []string{"--loglevel", "warning"}}},
		{name: "logfile", opts: Options{Config: []string{"logfile redis.log"}}},
		// A default user denied INFO (no AUTH): its NOPERM is an answer too.
		{name: "default user without INFO", opts: Options{Config: quiet,
			Users: []User{{Name: "default", Rules: []string{"~*", "&*", "+@all", "-@dangerous"}}}}},
		{name: "secured", opts: Options{
			Config:   quiet,
			Password: "pw",
			// The AdminUser may not run INFO: its NOPERM is an answer too.
			Users:      []User{{Name: "alice", Password: "alice pw", Rules: []string{"~*", "&*", "+@all", "-info"}}},
			AdminUser:  "alice",
			TLS:        &TLSOptions{CertFile: certs.Cert, KeyFile: certs.Key, CAFile: certs.CA, AuthClients: true},
			UnixSocket: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, be Backend) {
				opts := tt.opts
				opts.Backend = be
				if opts.TLS != nil && be == BackendContainer {
					// The gateway address is not in the certificate: verify the name.
					tlsOpts := *opts.TLS
					cfg, err := clientTLSConfig(&tlsOpts)
					require.NoError(t, err)
					cfg.ServerName = "redis.test"
					tlsOpts.ClientConfig = cfg
					opts.TLS = &tlsOpts
				}
				s, err := Start(testCtx(t), opts)
				if s != nil {
					t.Cleanup(func() { assert.NoError(t, s.Stop(testCtx(t))) })
				}
				require.NoError(t, err)
				assert.NotContains(t, s.Logs(), readyLine, "the server logged its ready line: this test proves nothing")
				assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)

				require.NoError(t, s.Restart(testCtx(t)))
				assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
				assert.NotContains(t, s.Logs(), readyLine)

				if opts.UnixSocket {
					v, err := rawDo(testCtx(t), "unix", s.UnixSocket(), []string{"AUTH", "alice", "alice pw"}, []string{"PING"})
					require.NoError(t, err)
					assert.Equal(t, "PONG", v.Str)
				}
				if opts.AdminUser != "" {
					assert.Equal(t, "alice", mustDo(t, s, "ACL", "WHOAMI").Str)
				}
			})
		})
	}
}

// Without the ready line, the server that answers may be another
// process's, which took the port first (here: another test's server whose
// reservation we forget). It must not be taken for this one, whether it
// answers INFO (its config_file is not ours), refuses us (a password we do
// not have: NOAUTH), or our run logs its bind failure to a logfile (the
// probe's finding is the error then): ErrPortInUse, which makes Start try
// another port when the port was not fixed.
func TestReadyIsThisRun(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		other Options
		quiet string
		ourPw string
		// ourConfig are more of our Config lines.
		ourConfig []string
		// tls makes both servers speak TLS, with certificates of different
		// CAs: ours rejects the other's.
		tls bool
	}{
		// Both refuse us (NOAUTH): only who holds the port tells them apart.
		"foreign password, ours in config": {other: Options{Backend: BackendBinary, Password: "pw"}, quiet: "loglevel warning", ourConfig: []string{"requirepass ours"}},
		"logfile, foreign TLS":             {other: Options{Backend: BackendBinary}, quiet: "logfile redis.log", tls: true},
		"quiet":                            {other: Options{Backend: BackendBinary}, quiet: "loglevel warning", ourPw: ""},
		"foreign password":                 {other: Options{Backend: BackendBinary, Password: "pw"}, quiet: "loglevel warning", ourPw: ""},
		"logfile":                          {other: Options{Backend: BackendBinary}, quiet: "logfile redis.log", ourPw: ""},
		"logfile, foreign pw":              {other: Options{Backend: BackendBinary, Password: "pw"}, quiet: "logfile redis.log", ourPw: ""},
		// Ours has a password the other refuses: its answers say nothing
		// of whose it is; it still holds the port after our run exits.
		"logfile, our pw":         {other: Options{Backend: BackendBinary}, quiet: "logfile redis.log", ourPw: "ours"},
		"logfile, both passwords": {other: Options{Backend: BackendBinary, Password: "theirs"}, quiet: "logfile redis.log", ourPw: "ours"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ours := Options{Backend: BackendBinary, Config: append([]string{tc.quiet}, tc.ourConfig...), Password: tc.ourPw}
			if tc.tls {
				var err error
				tc.other.TLS, err = NewTestTLS(t.TempDir())
				require.NoError(t, err)
				ours.TLS, err = NewTestTLS(t.TempDir())
				require.NoError(t, err)
			}
			other := Run(t, tc.other)
			// Forget other's reservation, as if it belonged to another process.
			releasePort(other.Port(), false)
			ours.Port = other.Port()
			s, err := Start(testCtx(t), ours)
			if s != nil {
				t.Cleanup(func() { assert.NoError(t, s.Stop(testCtx(t))) })
			}
			require.Error(t, err, "another process's server was taken for this one")
			assert.ErrorIs(t, err, ErrPortInUse)
			assert.Equal(t, "PONG", mustDo(t, other, "PING").Str)
		})
	}
}

// A Binary that is a wrapper script running redis-server as its child (no
// exec) is ready too when the server is quiet: the server is recognised by
// its redis.conf, not by the process Start started.
func TestReadyThroughWrapper(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server in PATH to wrap")
	}
	w := filepath.Join(t.TempDir(), "wrap.sh")
	require.NoError(t, os.WriteFile(w, []byte("#!/bin/sh\n"+bin+" \"$@\"\n"), 0o755))
	s := Run(t, Options{Backend: BackendBinary, Binary: w, Config: []string{"loglevel warning"}})
	assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
}

// TestReadyWithPasswordInConfig: a server whose password is given in
// Options.Config (so Do does not know it) refuses the readiness probe with
// NOAUTH, or WRONGPASS when it overrides Options.Password. It is ready all
// the same, quiet (no ready line: the probe recognises it by the socket its
// process listens on) as well as loud, at once rather than at the end of
// the context; Do meets the refusal.
func TestReadyWithPasswordInConfig(t *testing.T) {
	t.Parallel()
	quiet := []string{"loglevel warning", "requirepass cfg"}
	for name, tc := range map[string]struct {
		opts  Options
		quiet bool
	}{
		"quiet":                 {Options{Config: quiet}, true},
		"loud":                  {Options{Config: []string{"requirepass cfg"}}, false},
		"quiet, overridden":     {Options{Config: quiet, Password: "opt"}, true},
		"logfile, wrapped":      {Options{Config: []string{"logfile redis.log", "requirepass cfg"}, Binary: wrapper(t)}, true},
		"quiet, args":           {Options{Args: []string{"--loglevel", "warning", "--requirepass", "cfg"}}, true},
		"quiet, overridden TLS": {Options{Config: quiet, Password: "opt", TLS: mustTestTLS(t)}, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Backend = BackendBinary
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			s, err := Start(ctx, opts)
			if s != nil {
				t.Cleanup(func() { assert.NoError(t, s.Stop(testCtx(t))) })
			}
			require.NoError(t, err)
			if tc.quiet {
				assert.NotContains(t, s.Logs(), readyLine, "the server logged its ready line: this test proves nothing")
			}
			_, err = s.Do(testCtx(t), "PING")
			require.Error(t, err)
			assert.Contains(t, []string{"NOAUTH", "WRONGPASS"}, serverErr(err).Prefix, "%v", err)
			if opts.TLS == nil {
				v, err := rawDo(testCtx(t), "tcp", s.Addr(), []string{"AUTH", "cfg"}, []string{"PING"})
				require.NoError(t, err)
				assert.Equal(t, "PONG", v.Str)
			}
		})
	}
}

// TestStartFailsOnTLSVerification: a server whose certificate the probe's
// TLS configuration rejects (here: a name not in the certificate) can never
// be ready: Start fails at once, with the verification error, instead of
// probing until its context ends.
func TestStartFailsOnTLSVerification(t *testing.T) {
	t.Parallel()
	for name, config := range map[string][]string{"loud": nil, "quiet": {"loglevel warning"}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := mustTestTLS(t)
			cfg, err := o.ClientTLSConfig()
			require.NoError(t, err)
			cfg.ServerName = "not-in-the-certificate.example"
			o.ClientConfig = cfg
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			s, err := Start(ctx, Options{Backend: BackendBinary, TLS: o, Config: config})
			if s != nil {
				assert.NoError(t, s.Stop(testCtx(t)))
			}
			require.Error(t, err)
			require.NoError(t, ctx.Err(), "Start probed until its context ended: %v", err)
			assert.ErrorIs(t, err, ErrNotReady)
			var verr *tls.CertificateVerificationError
			assert.ErrorAs(t, err, &verr)
			var serr *StartError
			require.ErrorAs(t, err, &serr)
			// The server logs each of our failed handshakes.
			assert.LessOrEqual(t, strings.Count(serr.LogTail, "Error accepting a client connection"), 1, "probed again after the failure")
		})
	}
}

// mustTestTLS returns NewTestTLS options in a directory of the test.
func mustTestTLS(t *testing.T) *TLSOptions {
	t.Helper()
	o, err := NewTestTLS(t.TempDir())
	require.NoError(t, err)
	return o
}

// wrapper returns a shell script that runs redis-server as its child (no
// exec), for Options.Binary; it skips the test when there is none.
func wrapper(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server in PATH to wrap")
	}
	w := filepath.Join(t.TempDir(), "wrap.sh")
	require.NoError(t, os.WriteFile(w, []byte("#!/bin/sh\n"+bin+" \"$@\"\n"), 0o755))
	return w
}

// TestReadyWithoutPortOwner plays a system where who listens on a port
// cannot be told (no /proc): a quiet server is then recognised by INFO's
// config_file, another process's server is not taken for it, and one that
// refuses INFO because its password is in Config fails the start at once,
// saying to use Options.Password. Not parallel: it replaces
// lookupPortOwner for the package.
func TestReadyWithoutPortOwner(t *testing.T) {
	lookupPortOwner = func(pid, port int) portOwnership { return portOwnerUnknown }
	t.Cleanup(func() { lookupPortOwner = portOwner })
	quiet := []string{"loglevel warning"}

	s := Run(t, Options{Backend: BackendBinary, Config: quiet})
	assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)

	releasePort(s.Port(), false) // as if s were another process's
	_, err := Start(testCtx(t), Options{Backend: BackendBinary, Port: s.Port(), Config: quiet})
	assert.ErrorIs(t, err, ErrPortInUse)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err = Start(ctx, Options{Backend: BackendBinary, Config: append(quiet, "requirepass cfg")})
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Start probed until its context ended: %v", err)
	assert.ErrorIs(t, err, ErrNotReady)
	assert.Equal(t, "NOAUTH", serverErr(err).Prefix, "%v", err)
	assert.Contains(t, err.Error(), "Options.Password")
}
