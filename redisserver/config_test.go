package redisserver

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuoteConfigArg(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"127.0.0.1", "127.0.0.1"},
		{">p@ss~*", ">p@ss~*"},
		{"", `""`},
		{"two words", `"two words"`},
		{`say "hi"`, `"say \"hi\""`},
		{`back\slash`, `"back\\slash"`},
		{"it's", `"it's"`},
		{"tab\there", `"tab\there"`},
		{"line\nbreak\r", `"line\nbreak\r"`},
		{"\x01\x7f", `"\x01\x7f"`},
		{"é", `"\xc3\xa9"`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, quoteConfigArg(tt.in), "%q", tt.in)
	}
}

func TestRenderConfig(t *testing.T) {
	t.Parallel()
	opts := Options{
		Password: "pw",
		Users: []User{
			{Name: "alice", Password: "a b"},
			{Name: "bob", Rules: []string{"~cache:*", "+get"}},
		},
		Cluster: true,
		TLS:     &TLSOptions{CertFile: "c", KeyFile: "k", CAFile: "ca"},
		Config:  []string{"maxmemory 1mb"},
	}
	conf := string(renderConfig(&opts, placement{
		bind: "0.0.0.0", port: 6379, dir: "/data", unixSocket: "/run/x.sock",
		certFile: "/tls/c", keyFile: "/tls/k", caFile: "/tls/ca",
		announceIP: "172.17.0.1", announcePort: 31000, announceBusPort: 41000,
	}))
	for _, want := range []string{
		"bind 0.0.0.0\n",
		"port 0\n",
		"tls-port 6379\n",
		"dir /data\n",
		"logfile \"\"\n",
		"save \"\"\n",
		"appendonly no\n",
		"unixsocket /run/x.sock\n",
		"requirepass pw\n",
		"masterauth pw\n",
		"repl-diskless-sync-delay 0\n",
		"user alice reset on \">a b\" ~* &* +@all\n",
		"user bob reset on nopass ~cache:* +get\n",
		"cluster-enabled yes\n",
		"cluster-announce-ip 172.17.0.1\n",
		"cluster-announce-tls-port 31000\n",
		"cluster-announce-bus-port 41000\n",
		"replica-announce-ip 172.17.0.1\n",
		"replica-announce-port 31000\n",
		"tls-cert-file /tls/c\n",
		"tls-auth-clients no\n",
		"tls-cluster yes\n",
	} {
		assert.Contains(t, conf, want)
	}
	// The caller's lines come last, so they win.
	assert.True(t, strings.HasSuffix(conf, "maxmemory 1mb\n"), conf)

	plain := string(renderConfig(&Options{}, placement{bind: "127.0.0.1", port: 7000, dir: "/tmp/x"}))
	assert.Contains(t, plain, "port 7000\n")
	for _, absent := range []string{"tls-", "cluster-", "requirepass", "unixsocket", "announce"} {
		assert.NotContains(t, plain, absent)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	bad := map[string]Options{
		"negative port":       {Port: -1},
		"port too big":        {Port: 70000},
		"no room for the bus": {Port: 60000, Cluster: true},
		"user without name":   {Users: []User{{Password: "x"}}},
		"user with space":     {Users: []User{{Name: "a b"}}},
		"unknown admin":       {AdminUser: "carol"},
		"multi-line config":   {Config: []string{"maxmemory 1mb\nport 1"}},
		"TLS without CA":      {TLS: &TLSOptions{CertFile: "c", KeyFile: "k"}},
		"negative timeout":    {StopTimeout: -time.Second},
		"unknown backend":     {Backend: Backend(42)},
	}
	for name, opts := range bad {
		_, err := newServer(opts)
		assert.ErrorIs(t, err, ErrInvalidOptions, name)
	}
	assert.NoError(t, (&Options{Port: 55000, Cluster: true, AdminUser: "default"}).validate())
}

func TestAuthArgs(t *testing.T) {
	t.Parallel()
	assert.Nil(t, (&Options{}).authArgs())
	assert.Equal(t, []string{"AUTH", "pw"}, (&Options{Password: "pw"}).authArgs())
	assert.Equal(t, []string{"AUTH", "pw"}, (&Options{Password: "pw", AdminUser: "default"}).authArgs())
	users := []User{{Name: "bob", Password: "b"}, {Name: "nopass"}}
	assert.Equal(t, []string{"AUTH", "bob", "b"}, (&Options{Users: users, AdminUser: "bob"}).authArgs())
	assert.Equal(t, []string{"AUTH", "nopass", ""}, (&Options{Users: users, AdminUser: "nopass"}).authArgs())
}

// Not parallel: it sets the environment.
func TestBackendResolve(t *testing.T) {
	for env, want := range map[string]Backend{"": BackendBinary, "binary": BackendBinary, "container": BackendContainer} {
		t.Setenv(BackendEnv, env)
		got, err := BackendAuto.resolve()
		require.NoError(t, err)
		assert.Equal(t, want, got, "$%s=%q", BackendEnv, env)
	}
	t.Setenv(BackendEnv, "vm")
	_, err := BackendAuto.resolve()
	assert.ErrorIs(t, err, ErrInvalidOptions)
	got, err := BackendContainer.resolve()
	require.NoError(t, err)
	assert.Equal(t, BackendContainer, got, "an explicit backend ignores the environment")

	assert.Equal(t, "auto", BackendAuto.String())
	assert.Equal(t, "binary", BackendBinary.String())
	assert.Equal(t, "container", BackendContainer.String())
	assert.Equal(t, "Backend(42)", Backend(42).String())
}

// Not parallel: it sets the environment.
func TestFindBinary(t *testing.T) {
	t.Setenv(BinaryEnv, "")
	onPath, err := findBinary("")
	if err != nil {
		t.Skipf("no redis-server on $PATH: %v", err)
	}
	got, err := findBinary(onPath)
	require.NoError(t, err)
	assert.Equal(t, onPath, got)

	t.Setenv(BinaryEnv, "/no/such/redis-server")
	_, err = findBinary("")
	assert.ErrorIs(t, err, ErrBinaryNotFound)
	assert.Contains(t, err.Error(), BinaryEnv)
	// The option wins over the environment.
	got, err = findBinary(onPath)
	require.NoError(t, err)
	assert.Equal(t, onPath, got)

	_, err = Start(t.Context(), Options{Backend: BackendBinary, Binary: "/no/such/redis-server"})
	assert.ErrorIs(t, err, ErrBinaryNotFound)
}
