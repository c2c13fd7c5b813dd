package redisserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The behaviour tests run on both backends (see forEachBackend).

func TestStartPingSetGet(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s := Run(t, Options{Backend: be})
		assert.Equal(t, be, s.Backend())
		assert.Equal(t, be, s.Options().Backend)
		host, port, err := net.SplitHostPort(s.Addr())
		require.NoError(t, err)
		assert.Equal(t, s.Host(), host)
		assert.Equal(t, strconv.Itoa(s.Port()), port)
		assert.True(t, s.Running())

		assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
		assert.Equal(t, "OK", mustDo(t, s, "SET", "k", "v").Str)
		assert.Equal(t, "v", mustDo(t, s, "GET", "k").Str)
		n := mustDo(t, s, "INCRBY", "n", 41)
		assert.EqualValues(t, 41, n.Int)

		// An error reply is a *resp.Error, and the Value too.
		v, err := s.Do(testCtx(t), "INCR", "k")
		require.Error(t, err)
		require.NotNil(t, serverErr(err))
		assert.Equal(t, "ERR", serverErr(err).Prefix)
		assert.True(t, v.IsError())

		// No persistence.
		cfg := mustDo(t, s, "CONFIG", "GET", "save")
		require.Len(t, cfg.Elems, 2)
		assert.Empty(t, cfg.Elems[1].Str)
		assert.Equal(t, "no", mustDo(t, s, "CONFIG", "GET", "appendonly").Elems[1].Str)

		logHasReadyLine(t, s.Logs, 1)
	})
}

func TestPassword(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		// Quotes, a backslash, a tab and non-ASCII survive redis.conf quoting.
		const password = "s3cret \"pass\" \\word\t\u00e9"
		s := Run(t, Options{
			Backend:  be,
			Password: password,
			Users:    []User{{Name: "alice", Password: "alice pw", Rules: []string{"~*", "+@all"}}},
		})
		ctx := testCtx(t)

		// Do authenticates.
		assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
		assert.Equal(t, "default", mustDo(t, s, "ACL", "WHOAMI").Str)

		// Without a password: NOAUTH.
		_, err := rawDo(ctx, "tcp", s.Addr(), []string{"GET", "k"})
		require.Error(t, err)
		require.NotNil(t, serverErr(err), "%v", err)
		assert.Equal(t, "NOAUTH", serverErr(err).Prefix)

		// A wrong password: WRONGPASS.
		_, err = rawDo(ctx, "tcp", s.Addr(), []string{"AUTH", "wrong"})
		require.Error(t, err)
		require.NotNil(t, serverErr(err), "%v", err)
		assert.Equal(t, "WRONGPASS", serverErr(err).Prefix)

		// The right one, and an ACL user.
		v, err := rawDo(ctx, "tcp", s.Addr(), []string{"AUTH", password}, []string{"PING"})
		require.NoError(t, err)
		assert.Equal(t, "PONG", v.Str)
		v, err = rawDo(ctx, "tcp", s.Addr(), []string{"AUTH", "alice", "alice pw"}, []string{"ACL", "WHOAMI"})
		require.NoError(t, err)
		assert.Equal(t, "alice", v.Str)
	})
}

// TestAdminUser runs on one backend: authentication is the same for both.
func TestAdminUser(t *testing.T) {
	t.Parallel()
	s := Run(t, Options{
		Backend: BackendBinary,
		// The default user is off: only bob can do anything.
		Config:    []string{"user default off"},
		Users:     []User{{Name: "bob", Password: "bob's pw"}},
		AdminUser: "bob",
	})
	assert.Equal(t, "bob", mustDo(t, s, "ACL", "WHOAMI").Str)
}

func TestRestartKeepsPortLosesData(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s := Run(t, Options{Backend: be})
		addr := s.Addr()
		mustDo(t, s, "SET", "k", "v")
		pid := s.PID()

		require.NoError(t, s.Restart(testCtx(t)))
		assert.Equal(t, addr, s.Addr())
		assert.True(t, mustDo(t, s, "GET", "k").IsNull(), "data survived a restart")
		if be == BackendBinary {
			assert.NotEqual(t, pid, s.PID())
			assert.True(t, processGone(pid), "old process %d still there", pid)
		}
		// The log holds both runs.
		logHasReadyLine(t, s.Logs, 2)
	})
}

// logHasReadyLine waits until log holds the ready line n times: Start
// returns once the server answers, which may be just before the line is
// read from its output.
func logHasReadyLine(t *testing.T, log func() string, n int) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if got := strings.Count(log(), readyLine); got != n {
			return fmt.Errorf("%d ready lines in the log, want %d", got, n)
		}
		return nil
	})
}

func TestKillThenRestart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s := Run(t, Options{Backend: be})
		addr := s.Addr()
		mustDo(t, s, "SET", "k", "v")

		require.NoError(t, s.Kill())
		assert.False(t, s.Running())
		_, err := s.Do(testCtx(t), "PING")
		require.Error(t, err, "a killed server answered")
		require.NoError(t, s.Kill(), "killing a dead server")
		assert.ErrorIs(t, s.Pause(), ErrNotRunning)

		require.NoError(t, s.Restart(testCtx(t)))
		assert.Equal(t, addr, s.Addr())
		assert.True(t, s.Running())
		assert.True(t, mustDo(t, s, "GET", "k").IsNull())
		mustDo(t, s, "SET", "k", "again")
		assert.Equal(t, "again", mustDo(t, s, "GET", "k").Str)
	})
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s := Run(t, Options{Backend: be})
		mustDo(t, s, "SET", "k", "v")

		require.NoError(t, s.Pause())
		require.NoError(t, s.Pause(), "pausing twice")
		assert.True(t, s.Running())
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		_, err := s.Do(ctx, "GET", "k")
		cancel()
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)

		require.NoError(t, s.Resume())
		assert.Equal(t, "v", mustDo(t, s, "GET", "k").Str)
		require.NoError(t, s.Resume(), "resuming a running server")

		// A paused server can be killed and restarted, and stopped (by
		// Run's cleanup, as it is left paused).
		require.NoError(t, s.Pause())
		require.NoError(t, s.Kill())
		assert.False(t, s.Running())
		require.NoError(t, s.Restart(testCtx(t)))
		assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
		require.NoError(t, s.Pause())
	})
}

// TestParallelStarts starts 20 servers at once: every one must get a port of
// its own and answer. Run it with -count=3.
func TestParallelStarts(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		const n = 20
		var (
			wg      sync.WaitGroup
			servers = make([]*Server, n)
			errs    = make([]error, n)
		)
		// Twenty containers at once keep a 2-core machine's engine busy.
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		for i := range n {
			wg.Go(func() { servers[i], errs[i] = Start(ctx, Options{Backend: be}) })
		}
		wg.Wait()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, s := range servers {
				if s != nil {
					assert.NoError(t, s.Stop(ctx))
				}
			}
		})
		ports := map[int]int{}
		for i := range n {
			require.NoError(t, errs[i], "server %d", i)
			ports[servers[i].Port()]++
		}
		assert.Len(t, ports, n, "ports: %v", ports)
		for i, s := range servers {
			key := fmt.Sprintf("server-%d", i)
			mustDo(t, s, "SET", key, i)
			assert.Equal(t, strconv.Itoa(i), mustDo(t, s, "GET", key).Str)
			// Each server holds its own key only.
			assert.EqualValues(t, 1, mustDo(t, s, "DBSIZE").Int)
		}
	})
}

func TestStopLeavesNothing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s, err := Start(testCtx(t), Options{Backend: be, UnixSocket: true})
		require.NoError(t, err)
		pid, dir, id, sock := s.PID(), s.Dir(), s.ContainerID(), s.UnixSocket()
		require.NotEmpty(t, sock)
		v, err := rawDo(testCtx(t), "unix", sock, []string{"PING"})
		require.NoError(t, err)
		assert.Equal(t, "PONG", v.Str)

		require.NoError(t, s.Stop(testCtx(t)))
		require.NoError(t, s.Stop(testCtx(t)), "stopping twice")
		assert.False(t, s.Running())
		assert.ErrorIs(t, s.Kill(), ErrStopped)
		assert.ErrorIs(t, s.Restart(testCtx(t)), ErrStopped)
		assert.ErrorIs(t, s.Pause(), ErrStopped)
		_, err = s.Do(testCtx(t), "PING")
		assert.Error(t, err)
		assert.NoFileExists(t, sock)

		switch be {
		case BackendBinary:
			require.NotZero(t, pid)
			assert.True(t, processGone(pid), "process %d survived Stop", pid)
			assert.NoDirExists(t, dir)
		case BackendContainer:
			require.NotEmpty(t, id)
			assertNoContainer(t, id)
		}
	})
}

func TestConfigArgsLogs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		var live syncBuffer
		s := Run(t, Options{
			Backend: be,
			Config:  []string{"maxmemory 12mb", "maxmemory-policy volatile-lru"},
			Args:    []string{"--maxmemory-policy", "allkeys-lru", "--hz", "20"},
			Log:     &live,
		})
		assert.Equal(t, strconv.Itoa(12<<20), mustDo(t, s, "CONFIG", "GET", "maxmemory").Elems[1].Str)
		// Args come after the file, so they win.
		assert.Equal(t, "allkeys-lru", mustDo(t, s, "CONFIG", "GET", "maxmemory-policy").Elems[1].Str)
		assert.Equal(t, "20", mustDo(t, s, "CONFIG", "GET", "hz").Elems[1].Str)
		logHasReadyLine(t, live.String, 1)
		logHasReadyLine(t, s.Logs, 1)
	})
}

func TestStartFailureHasLogTail(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s, err := Start(testCtx(t), Options{Backend: be, Config: []string{"no-such-directive yes"}})
		require.Error(t, err)
		assert.Nil(t, s)
		var serr *StartError
		require.ErrorAs(t, err, &serr)
		assert.ErrorIs(t, err, ErrExited)
		assert.Equal(t, "start", serr.Op)
		assert.Contains(t, serr.LogTail, "no-such-directive")
		assert.Contains(t, err.Error(), "Bad directive")
	})
}

// Someone else takes the port while the server is down: Restart fails
// with ErrPortInUse and keeps the port for a later Restart. Also for a
// server that does not log its ready line ("quiet"): the listener accepts
// and never answers, and Restart must end when the run exits, not wait on
// the listener.
func TestRestartPortTaken(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		for _, quiet := range []bool{false, true} {
			opts := Options{Backend: be}
			if quiet {
				opts.Config = []string{"loglevel warning"}
			}
			s := Run(t, opts)
			addr := s.Addr()
			require.NoError(t, s.Kill())

			l, err := net.Listen("tcp", addr)
			require.NoError(t, err)
			err = s.Restart(testCtx(t))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrPortInUse, "quiet %v", quiet)
			var serr *StartError
			require.ErrorAs(t, err, &serr)
			assert.Equal(t, "restart", serr.Op)
			assert.False(t, s.Running())
			assert.Equal(t, addr, s.Addr(), "the port must not change")

			require.NoError(t, l.Close())
			require.NoError(t, s.Restart(testCtx(t)))
			assert.Equal(t, addr, s.Addr())
			assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
		}
	})
}

func TestReplication(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		opts := Options{Backend: be, Password: "pw"}
		master, replica := Run(t, opts), Run(t, opts)
		mustDo(t, master, "SET", "k", "v")
		mustDo(t, replica, "REPLICAOF", master.Host(), master.Port())
		eventually(t, 10*time.Second, func() error {
			v, err := replica.Do(testCtx(t), "GET", "k")
			if err == nil && v.Str != "v" {
				err = fmt.Errorf("replica has %v", v)
			}
			return err
		})
		// The master lists its replica at the address the test uses.
		info := mustDo(t, master, "INFO", "replication").Text()
		assert.Contains(t, info, fmt.Sprintf("ip=%s,port=%d,", replica.Host(), replica.Port()))
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certs := writeTestCerts(t)
	forEachBackend(t, func(t *testing.T, be Backend) {
		opts := TLSOptions{CertFile: certs.Cert, KeyFile: certs.Key, CAFile: certs.CA, AuthClients: true}
		if be == BackendContainer {
			// The gateway address is not in the certificate: verify the name.
			cfg, err := clientTLSConfig(&opts)
			require.NoError(t, err)
			cfg.ServerName = "redis.test"
			opts.ClientConfig = cfg
		}
		s := Run(t, Options{Backend: be, TLS: &opts, Password: "pw"})
		assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
		require.NotNil(t, s.TLSConfig())

		// Plain TCP gets nowhere.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := rawDo(ctx, "tcp", s.Addr(), []string{"AUTH", "pw"}, []string{"PING"})
		assert.Error(t, err)

		// TLS without a client certificate is refused (AuthClients).
		noCert := s.TLSConfig()
		noCert.Certificates = nil
		d := tls.Dialer{Config: noCert}
		conn, err := d.DialContext(ctx, "tcp", s.Addr())
		if err == nil {
			// TLS 1.3 reports the missing certificate at the first read.
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = conn.Write(resp.AppendCommandStrings(nil, "PING"))
			if err == nil {
				_, err = resp.NewReader(conn, resp.Limits{}).ReadValue()
			}
			conn.Close()
		}
		assert.Error(t, err, "a client without a certificate got through")
	})
}

func TestCluster(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		var nw string
		if be == BackendContainer {
			n, err := NewNetwork(testCtx(t))
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, n.Remove(context.Background())) })
			nw = n.Name()
		}
		opts := Options{Backend: be, Cluster: true, Password: "pw", Container: ContainerOptions{Network: nw},
			Config: []string{"cluster-node-timeout 2000"}}
		a, b := Run(t, opts), Run(t, opts)
		idA := mustDo(t, a, "CLUSTER", "MYID").Str
		idB := mustDo(t, b, "CLUSTER", "MYID").Str
		mustDo(t, a, "CLUSTER", "MEET", b.Host(), b.Port())

		// Each node knows the other at the address the test process uses.
		waitConnected := func() {
			eventually(t, 20*time.Second, func() error {
				for _, pair := range [][2]*Server{{a, b}, {b, a}} {
					self, peer := pair[0], pair[1]
					peerID := idB
					if peer == a {
						peerID = idA
					}
					nodes, err := self.Do(testCtx(t), "CLUSTER", "NODES")
					if err != nil {
						return err
					}
					line := nodeLine(nodes.Text(), peerID)
					want := fmt.Sprintf("%s@%d", peer.Addr(), peer.Port()+ClusterBusPortOffset)
					if !strings.Contains(line, " "+want+" ") || !strings.Contains(line, " connected") || strings.Contains(line, "fail") {
						return fmt.Errorf("%s sees %s as %q, want %s connected", self.Addr(), peerID, line, want)
					}
				}
				return nil
			})
		}
		waitConnected()

		// A restarted node keeps its identity (nodes.conf) and rejoins.
		require.NoError(t, b.Restart(testCtx(t)))
		assert.Equal(t, idB, mustDo(t, b, "CLUSTER", "MYID").Str)
		waitConnected()
	})
}

// nodeLine returns the CLUSTER NODES line of node id.
func nodeLine(nodes, id string) string {
	for line := range strings.SplitSeq(nodes, "\n") {
		if strings.HasPrefix(line, id+" ") {
			return line
		}
	}
	return ""
}

func TestDoContext(t *testing.T) {
	t.Parallel()
	s := Run(t, Options{Backend: BackendBinary})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Do(ctx, "PING")
	assert.ErrorIs(t, err, context.Canceled)

	// A blocked command is cut short by the deadline, and says so.
	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = s.Do(ctx, "BLPOP", "nothing", 0)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = s.Do(t.Context())
	assert.ErrorIs(t, err, ErrInvalidOptions)
	_, err = s.Do(t.Context(), "SET", "k", struct{}{})
	assert.ErrorIs(t, err, resp.ErrUnsupportedArg)
}

// TestDoAll: one connection, one write, a reply per command in order,
// error replies as Values; what kept the replies from being read is the
// error (a context that ended, a refused AUTH).
func TestDoAll(t *testing.T) {
	t.Parallel()
	s := Run(t, Options{Backend: BackendBinary, Password: "pw"})
	ctx := testCtx(t)
	replies, err := s.DoAll(ctx, []any{"SET", "k", 1}, []any{"INCR", "k"}, []any{"HGET", "k", "f"}, []any{"CLIENT", "ID"}, []any{"CLIENT", "ID"})
	require.NoError(t, err)
	require.Len(t, replies, 5)
	assert.Equal(t, "OK", replies[0].Str)
	assert.Equal(t, int64(2), replies[1].Int)
	require.True(t, replies[2].IsError(), "WRONGTYPE is a reply, not a failure: %v", replies[2])
	var rerr *resp.Error
	require.ErrorAs(t, replies[2].Err(), &rerr)
	assert.Equal(t, "WRONGTYPE", rerr.Prefix)
	assert.Equal(t, replies[3].Int, replies[4].Int, "one connection for all of them")

	none, err := s.DoAll(ctx)
	assert.NoError(t, err)
	assert.Empty(t, none)
	_, err = s.DoAll(ctx, []any{"PING"}, []any{})
	assert.ErrorIs(t, err, ErrInvalidOptions)
	_, err = s.DoAll(ctx, []any{"SET", "k", struct{}{}})
	assert.ErrorIs(t, err, resp.ErrUnsupportedArg)

	ended, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.DoAll(ended, []any{"PING"})
	assert.ErrorIs(t, err, context.Canceled)

	// The server's password changes under the harness: AUTH is refused.
	_, err = s.Do(ctx, "CONFIG", "SET", "requirepass", "another")
	require.NoError(t, err)
	_, err = s.DoAll(ctx, []any{"PING"})
	require.ErrorAs(t, err, &rerr)
	assert.Equal(t, "WRONGPASS", rerr.Prefix)
	assert.Contains(t, err.Error(), "AUTH")
}

func TestNetworkNeedsContainer(t *testing.T) {
	t.Parallel()
	s := Run(t, Options{Backend: BackendBinary})
	assert.ErrorIs(t, s.DisconnectNetwork(t.Context()), ErrNotSupported)
	assert.ErrorIs(t, s.ConnectNetwork(t.Context()), ErrNotSupported)
	assert.Empty(t, s.ContainerID())
	assert.Empty(t, s.Network())
}

func TestFixedPort(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		// On every address: a container's port is published on the
		// gateway's.
		l, err := net.Listen("tcp", "0.0.0.0:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port

		// Taken: no retry on another port.
		_, err = Start(testCtx(t), Options{Backend: be, Port: port})
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrPortInUse)
		require.NoError(t, l.Close())

		s := Run(t, Options{Backend: be, Port: port})
		assert.Equal(t, port, s.Port())
		// The same port twice in one process is refused at once.
		_, err = Start(testCtx(t), Options{Backend: be, Port: port})
		assert.ErrorIs(t, err, ErrPortInUse)
	})
}

// TestRelativeTMPDIR: a relative $TMPDIR still gives the server an absolute
// directory (it runs in it, and its redis.conf names it).
func TestRelativeTMPDIR(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, os.Mkdir("reltmp", 0o755))
	t.Setenv("TMPDIR", "reltmp")
	s, err := Start(testCtx(t), Options{Backend: BackendBinary})
	if s != nil {
		t.Cleanup(func() { assert.NoError(t, s.Stop(testCtx(t))) })
	}
	require.NoError(t, err)
	assert.True(t, filepath.IsAbs(s.Dir()), "directory %q", s.Dir())
	assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
	require.NoError(t, s.Restart(testCtx(t)))
	assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
}

// TestRestartKeepsConfigRewrite: redis.conf is written at the first start
// only, so what the test saved with CONFIG REWRITE survives Restart. (The
// container backend writes the file once, when it creates the container.)
func TestRestartKeepsConfigRewrite(t *testing.T) {
	t.Parallel()
	s := Run(t, Options{Backend: BackendBinary, Config: []string{"maxmemory-policy noeviction"}})
	mustDo(t, s, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
	mustDo(t, s, "CONFIG", "REWRITE")
	require.NoError(t, s.Restart(testCtx(t)))
	v := mustDo(t, s, "CONFIG", "GET", "maxmemory-policy")
	require.Len(t, v.Elems, 2)
	assert.Equal(t, "allkeys-lru", v.Elems[1].Str, "CONFIG REWRITE lost on Restart")

	require.NoError(t, s.Kill())
	require.NoError(t, s.Restart(testCtx(t)))
	v = mustDo(t, s, "CONFIG", "GET", "maxmemory-policy")
	require.Len(t, v.Elems, 2)
	assert.Equal(t, "allkeys-lru", v.Elems[1].Str, "CONFIG REWRITE lost on Restart after Kill")
}
