package redisserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
	}{
		"quiet":               {Options{Backend: BackendBinary}, "loglevel warning", ""},
		"foreign password":    {Options{Backend: BackendBinary, Password: "pw"}, "loglevel warning", ""},
		"logfile":             {Options{Backend: BackendBinary}, "logfile redis.log", ""},
		"logfile, foreign pw": {Options{Backend: BackendBinary, Password: "pw"}, "logfile redis.log", ""},
		// Ours has a password the other refuses: its answers say nothing
		// of whose it is; it still holds the port after our run exits.
		"logfile, our pw":         {Options{Backend: BackendBinary}, "logfile redis.log", "ours"},
		"logfile, both passwords": {Options{Backend: BackendBinary, Password: "theirs"}, "logfile redis.log", "ours"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			other := Run(t, tc.other)
			// Forget other's reservation, as if it belonged to another process.
			releasePort(other.Port(), false)
			s, err := Start(testCtx(t), Options{Backend: BackendBinary, Port: other.Port(), Config: []string{tc.quiet}, Password: tc.ourPw})
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
