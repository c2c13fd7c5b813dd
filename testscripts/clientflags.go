package testscripts

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/cluster"
	"github.com/rogpeppe/go-internal/testscript"
)

// AddrEnv is the environment variable that -addr defaults to.
const AddrEnv = "REDIS_ADDR"

// clientFlags are the CLIENT-FLAGS of the commands that use our client.
// The connection flags choose the client (one *client.Mux per distinct
// set, kept for the whole script, as a program keeps one); the call flags
// choose the Database handle and the call's context.
type clientFlags struct {
	// connection
	addr          string
	cluster       bool
	tls           bool
	tlsServerName string
	user, pass    string
	protocol      int
	socketTimeout time.Duration

	// call
	db         int
	timeout    time.Duration
	retries    int
	idempotent bool
	pin        string
	trunc      int
}

// newFlagSet returns a flag set that reports errors through the command's
// usage rather than on the process's stderr.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// register adds the client flags to fs.
func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "", "server address, or cluster seed addresses separated by commas (default $"+AddrEnv+")")
	fs.BoolVar(&f.cluster, "cluster", false, "use the cluster client")
	fs.BoolVar(&f.tls, "tls", false, "connect with TLS, trusting the script's CA (see redis-start -tls)")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "the name to verify the server's certificate against (default: the host of the address)")
	fs.StringVar(&f.user, "user", "", "user name")
	fs.StringVar(&f.pass, "pass", "", "password")
	fs.IntVar(&f.protocol, "resp", 0, "protocol: 2 or 3 (default: RESP3, falling back to RESP2)")
	fs.DurationVar(&f.socketTimeout, "socket-timeout", 0, "the client's socket timeout (default client.DefaultSocketTimeout)")
	fs.IntVar(&f.db, "db", 0, "database number")
	fs.DurationVar(&f.timeout, "timeout", DefaultTimeout, "bound of the call (its context)")
	fs.IntVar(&f.retries, "retries", -1, "retry budget of the call (default: the client's)")
	fs.BoolVar(&f.idempotent, "idempotent", false, "mark the command idempotent (safe to re-send)")
	fs.StringVar(&f.pin, "pin", "", "send to this node, whatever the cluster router says (no redirections followed)")
	fs.IntVar(&f.trunc, "trunc", 0, "show at most this many bytes of each string of the reply")
}

// parseFlags parses a command's flags and returns the other arguments;
// bad flags fail the script with the command's usage.
func parseFlags(ts *testscript.TestScript, name string, fs *flag.FlagSet, args []string) []string {
	if err := fs.Parse(args); err != nil {
		usagef(ts, name, "%v", err)
	}
	return fs.Args()
}

// muxKey identifies a client by its connection flags.
func (f *clientFlags) muxKey() string {
	return fmt.Sprintf("addr=%s cluster=%t tls=%t sni=%s user=%s pass=%s resp=%d socket-timeout=%s",
		f.addr, f.cluster, f.tls, f.tlsServerName, f.user, f.pass, f.protocol, f.socketTimeout)
}

// resolveAddr applies the -addr default, failing the script when there is
// none.
func (f *clientFlags) resolveAddr(ts *testscript.TestScript, name string) {
	if f.addr == "" {
		f.addr = ts.Getenv(AddrEnv)
	}
	if f.addr == "" {
		usagef(ts, name, "no address: give -addr, or set $%s", AddrEnv)
	}
}

// mux returns the script's client for the connection flags, making it on
// first use.
func (st *state) mux(ts *testscript.TestScript, name string, f *clientFlags) *client.Mux {
	f.resolveAddr(ts, name)
	key := f.muxKey()
	if m := st.muxes[key]; m != nil {
		return m
	}
	cfg := client.Config{
		Endpoints:     strings.Split(f.addr, ","),
		Username:      f.user,
		Password:      f.pass,
		Protocol:      f.protocol,
		SocketTimeout: f.socketTimeout,
	}
	if f.tls {
		if st.ca == nil {
			ts.Fatalf("%s: -tls: the script has no CA yet (start a server with redis-start -tls first)", name)
		}
		cfg.TLS = st.ca.clientConfig()
		cfg.TLS.ServerName = f.tlsServerName
	}
	var (
		m   *client.Mux
		err error
	)
	if f.cluster {
		m, err = cluster.New(cfg)
	} else {
		m, err = client.New(cfg)
	}
	if err != nil {
		// The client's errors name their package ("client: ...",
		// "cluster: ...").
		ts.Fatalf("%s: %v", name, err)
	}
	st.muxes[key] = m
	st.muxList = append(st.muxList, m)
	return m
}

// database returns the Database handle for the call flags.
func (f *clientFlags) database(m *client.Mux) client.Database {
	db := m.Database(f.db)
	var opts []client.Option
	if f.retries >= 0 {
		opts = append(opts, client.Retries(f.retries))
	}
	if f.idempotent {
		opts = append(opts, client.Idempotent(true))
	}
	if f.pin != "" {
		opts = append(opts, client.Pin(f.pin))
	}
	if len(opts) > 0 {
		db = db.With(opts...)
	}
	return db
}

// callContext returns the context of one call: -timeout, ended by the
// script's cleanup too.
func (st *state) callContext(f *clientFlags) (context.Context, context.CancelFunc) {
	return context.WithTimeout(st.ctx, f.timeout)
}

// splitCommands splits arguments at ";" into commands: "SET a 1 ; GET a".
// An empty command fails the script with the usage of name.
func splitCommands(ts *testscript.TestScript, name string, args []string) [][]string {
	var cmds [][]string
	start := 0
	for i := 0; i <= len(args); i++ {
		if i == len(args) || args[i] == ";" {
			if i == start {
				usagef(ts, name, "empty command")
			}
			cmds = append(cmds, args[start:i])
			start = i + 1
		}
	}
	return cmds
}

// toAny converts command arguments for the client.
func toAny(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// clientConfig is the TLS configuration of a client: the script's CA, and
// a client certificate from it (for servers that require one).
func (ca *certAuthority) clientConfig() *tls.Config {
	return &tls.Config{
		RootCAs:      ca.pool,
		Certificates: []tls.Certificate{ca.clientCert},
		MinVersion:   tls.VersionTLS12,
	}
}
