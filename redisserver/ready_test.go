package redisserver

import (
	"net"
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

// TestReadyIsThisRun gives a server that does not log its ready line the
// port of another redis-server, as a process that wins the race for the
// port would: the other server answers PING, but the start must see that
// it is not this run (INFO's process_id) and fail with ErrPortInUse.
func TestReadyIsThisRun(t *testing.T) {
	t.Parallel()
	other := Run(t, Options{Backend: BackendBinary})
	// Forget other's reservation, as if it belonged to another process.
	releasePort(other.Port(), false)

	s, err := Start(testCtx(t), Options{Backend: BackendBinary, Port: other.Port(), Config: []string{"loglevel warning"}})
	if s != nil {
		t.Cleanup(func() { assert.NoError(t, s.Stop(testCtx(t))) })
	}
	require.Error(t, err, "another process's server was taken for this one")
	assert.ErrorIs(t, err, ErrPortInUse)
	assert.Equal(t, "PONG", mustDo(t, other, "PING").Str)
}

// TestQuietRestartPortTaken: a listener that accepts but never answers holds
// the port of a server that does not log its ready line; Restart must end
// when the run exits, with ErrPortInUse, not wait on the listener.
func TestQuietRestartPortTaken(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s := Run(t, Options{Backend: be, Config: []string{"loglevel warning"}})
		addr := s.Addr()
		require.NoError(t, s.Kill())

		l, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		err = s.Restart(testCtx(t))
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrPortInUse)
		assert.False(t, s.Running())

		require.NoError(t, l.Close())
		require.NoError(t, s.Restart(testCtx(t)))
		assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
	})
}
