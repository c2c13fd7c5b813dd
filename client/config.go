package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultEndpoint       = "127.0.0.1:6379"
	DefaultConnectTimeout = 5 * time.Second
	DefaultConnectRetry   = 3
	DefaultSocketTimeout  = 30 * time.Second
	DefaultRecvBufferSize = 64 << 10
	DefaultTCPKeepAlive   = 300 * time.Second
	DefaultRetries        = 3
	DefaultQueueSize      = 8192
	DefaultMaxDedicated   = 64
	DefaultDedicatedIdle  = 30 * time.Second
)

// DialFunc opens a connection to addr ("host:port", or a path when network is
// "unix"). It is the "connection handler" of Python justredis: use it to dial
// through a proxy, a tunnel, or an in-memory pipe in tests. The client
// applies TLS, when configured, on top of the connection it returns.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Toggle is a setting that is on or off, with a documented default.
type Toggle int8

// Toggle values.
const (
	ToggleDefault Toggle = iota // the documented default of the setting
	ToggleOn
	ToggleOff
)

// Config configures a Mux. Its zero value connects to 127.0.0.1:6379 with the
// defaults below.
type Config struct {
	// Endpoints are the servers to connect to, tried in order: "host:port",
	// or "unix:/path/to/socket". Default: DefaultEndpoint.
	Endpoints []string
	// Username and Password authenticate (HELLO ... AUTH, or AUTH on
	// RESP2). An empty Username means the "default" user; a Username
	// without a Password logs in as that user (one with nopass).
	Username string
	Password string
	// ClientName is set on every connection (CLIENT SETNAME); optional.
	// Redis accepts printable ASCII without spaces; New refuses others. On
	// RESP2 an ACL user denied CLIENT SETNAME connects unnamed (on RESP3
	// HELLO names the connection, unchecked).
	ClientName string

	// ConnectTimeout bounds one dial and handshake. Default
	// DefaultConnectTimeout; negative is an error.
	ConnectTimeout time.Duration
	// ConnectRetry is how many times every endpoint is tried, with backoff,
	// before a connection attempt gives up. Default DefaultConnectRetry.
	ConnectRetry int
	// SocketTimeout fails a connection on which commands have been waiting
	// for that long without any reply arriving, or whose write stalls that
	// long: pub/sub connections too, while a Subscribe, Unsubscribe or
	// Ping waits for its confirmation. An idle pub/sub connection (nothing
	// read and nothing waited for during SocketTimeout/2) is sent a PING,
	// so that a peer gone silent (a host down, a dropped NAT mapping) is
	// noticed within about SocketTimeout more, and the subscribers are
	// re-subscribed on a new connection and told (KindReconnected); an
	// idle subscriber is never failed for hearing nothing from a live
	// server. It must exceed your slowest command. Default
	// DefaultSocketTimeout; negative disables (then an idle pub/sub
	// connection is never checked: a silent peer goes unnoticed until the
	// operating system gives up on it, if ever).
	SocketTimeout time.Duration
	// RecvBufferSize is the initial size of each connection's read buffer
	// (it grows by itself for larger replies). Default
	// DefaultRecvBufferSize; over 256 MiB is an error.
	RecvBufferSize int
	// TCPKeepAlive is the TCP keep-alive period. Default
	// DefaultTCPKeepAlive; negative disables. With a custom Dialer, it is
	// applied to the *net.TCPConn the Dialer returns only when set here;
	// otherwise the Dialer's own setting stands. TCPNoDelay likewise.
	TCPKeepAlive time.Duration
	// TCPNoDelay sets TCP_NODELAY. Default on: the client batches writes
	// itself, and Nagle's algorithm would only add latency.
	TCPNoDelay Toggle
	// Dialer replaces the default net.Dialer.
	Dialer DialFunc
	// TLS, when set, wraps every connection in TLS with this configuration.
	// If its ServerName is empty, the endpoint's host is used.
	TLS *tls.Config

	// Protocol selects RESP2 (2) or RESP3 (3). Default (0): try HELLO 3,
	// fall back to RESP2 when the server does not know HELLO.
	Protocol int
	// Retries is the default retry budget of a command: only commands
	// that provably did not run (see NotExecuted), or are read-only or
	// marked Idempotent, are retried. Default DefaultRetries; negative
	// means none.
	Retries int
	// QueueSize bounds the commands queued on a connection and not yet
	// written; callers beyond it wait (honouring their ctx). Default
	// DefaultQueueSize; negative is an error.
	QueueSize int
	// MaxDedicated bounds the dedicated connections per server (blocking
	// commands, Watch, Dedicated); callers beyond it wait, honouring their
	// ctx. Default DefaultMaxDedicated.
	MaxDedicated int
	// DedicatedIdleTimeout closes dedicated connections unused for that
	// long. Default DefaultDedicatedIdle.
	DedicatedIdleTimeout time.Duration
}

// settings is a Config with the defaults applied and the endpoints parsed.
type settings struct {
	endpoints      []endpoint
	username       string
	password       string
	clientName     string
	connectTimeout time.Duration
	connectRetry   int
	socketTimeout  time.Duration // 0: none
	recvBufferSize int
	keepAlive      time.Duration // negative: off
	noDelay        bool
	// tuneTCP: set keep-alive and TCP_NODELAY on a dialed *net.TCPConn;
	// not on one from a custom Dialer unless Config set them (the
	// Dialer's own settings stand).
	tuneKeepAlive, tuneNoDelay bool
	dial                       DialFunc
	tls                        *tls.Config
	protocol                   int
	retries                    int
	queueSize                  int
	maxDedicated               int
	dedicatedIdle              time.Duration
}

// endpoint is one parsed entry of Config.Endpoints.
type endpoint struct {
	network string // "tcp" or "unix"
	addr    string
}

func (e endpoint) String() string {
	if e.network == "unix" {
		return "unix:" + e.addr
	}
	return e.addr
}

func parseEndpoint(s string) (endpoint, error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return endpoint{}, errors.New("client: empty unix socket path")
		}
		return endpoint{network: "unix", addr: path}, nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return endpoint{}, errors.New("client: endpoint " + s + ": " + err.Error())
	}
	// A port by number: SplitHostPort takes any text after the last colon
	// ("UNIX:/path", "host:"), which would fail only when dialled.
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return endpoint{}, fmt.Errorf("client: endpoint %s: want host:port with a port from 1 to 65535, or unix:/path", s)
	}
	return endpoint{network: "tcp", addr: s}, nil
}

// maxRecvBufferSize bounds Config.RecvBufferSize: the buffer is allocated
// for every connection (and grows by itself for larger replies), so a
// larger value is more likely a slip than a wish.
const maxRecvBufferSize = 256 << 20

// validClientName reports whether Redis accepts name for CLIENT SETNAME:
// printable ASCII without spaces.
func validClientName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] < '!' || name[i] > '~' {
			return false
		}
	}
	return true
}

// dialBudget bounds a whole connection attempt: ConnectRetry+1 tries of
// ConnectTimeout each, without overflowing for a huge ConnectRetry or
// ConnectTimeout (math.MaxInt64: as good as no bound).
func (s *settings) dialBudget() time.Duration {
	tries := int64(s.connectRetry) + 1
	if s.connectRetry == math.MaxInt || int64(s.connectTimeout) > math.MaxInt64/tries {
		return math.MaxInt64
	}
	return time.Duration(tries) * s.connectTimeout
}

func (c Config) resolve() (*settings, error) {
	s := &settings{
		username:       c.Username,
		password:       c.Password,
		clientName:     c.ClientName,
		connectTimeout: orDefault(c.ConnectTimeout, DefaultConnectTimeout),
		connectRetry:   orDefault(c.ConnectRetry, DefaultConnectRetry),
		socketTimeout:  orDefault(c.SocketTimeout, DefaultSocketTimeout),
		recvBufferSize: orDefault(c.RecvBufferSize, DefaultRecvBufferSize),
		keepAlive:      orDefault(c.TCPKeepAlive, DefaultTCPKeepAlive),
		noDelay:        c.TCPNoDelay != ToggleOff,
		tuneKeepAlive:  c.Dialer == nil || c.TCPKeepAlive != 0,
		tuneNoDelay:    c.Dialer == nil || c.TCPNoDelay != ToggleDefault,
		dial:           c.Dialer,
		tls:            c.TLS,
		protocol:       c.Protocol,
		retries:        orDefault(c.Retries, DefaultRetries),
		queueSize:      orDefault(c.QueueSize, DefaultQueueSize),
		maxDedicated:   max(orDefault(c.MaxDedicated, DefaultMaxDedicated), 1),
		dedicatedIdle:  orDefault(c.DedicatedIdleTimeout, DefaultDedicatedIdle),
	}
	if s.socketTimeout < 0 {
		s.socketTimeout = 0
	}
	if s.retries < 0 {
		s.retries = 0
	}
	if s.connectRetry < 0 {
		s.connectRetry = 1
	}
	switch c.Protocol {
	case 0, 2, 3:
	default:
		return nil, errors.New("client: Protocol must be 0, 2 or 3")
	}
	if c.QueueSize < 0 {
		// No queue at all would make every command wait for ever.
		return nil, errors.New("client: QueueSize must not be negative")
	}
	if c.ConnectTimeout < 0 {
		// Without a bound a dial to a silent host would hang for ever.
		return nil, errors.New("client: ConnectTimeout must not be negative")
	}
	if c.RecvBufferSize > maxRecvBufferSize {
		return nil, fmt.Errorf("client: RecvBufferSize %d is over %d: it is allocated for every connection (and grows by itself for larger replies)", c.RecvBufferSize, maxRecvBufferSize)
	}
	if !validClientName(c.ClientName) {
		// Redis would refuse it at every connection's handshake.
		return nil, fmt.Errorf("client: ClientName %q: Redis accepts only printable ASCII without spaces", c.ClientName)
	}
	eps := c.Endpoints
	if len(eps) == 0 {
		eps = []string{DefaultEndpoint}
	}
	for _, e := range eps {
		ep, err := parseEndpoint(e)
		if err != nil {
			return nil, err
		}
		s.endpoints = append(s.endpoints, ep)
	}
	if s.dial == nil {
		d := &net.Dialer{KeepAlive: s.keepAlive}
		if s.keepAlive < 0 {
			d.KeepAlive = -1
		}
		s.dial = d.DialContext
	}
	return s, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
