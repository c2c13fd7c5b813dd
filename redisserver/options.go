package redisserver

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Defaults used where an Options field is zero.
const (
	// DefaultStartTimeout bounds Run's start, the first image build
	// included. Start and Restart are bounded by their context only.
	DefaultStartTimeout = 60 * time.Second
	// DefaultStopTimeout is how long Stop and Restart wait after SIGTERM
	// before they send SIGKILL.
	DefaultStopTimeout = 5 * time.Second
	// DefaultStartAttempts is how many ports Start tries when it loses a
	// bind race (another process took the free port it had chosen).
	DefaultStartAttempts = 5
	// DefaultLogLimit is how many bytes of server log a Server keeps in
	// memory for Logs; older lines are dropped.
	DefaultLogLimit = 1 << 20
	// DefaultDockerTimeout bounds each Docker engine call made by the
	// methods without a context (Kill, Pause, Resume), and the removals of
	// Server.Stop and Network.Remove, which do not end with their context.
	DefaultDockerTimeout = 30 * time.Second
	// DefaultImageRepository is the repository of the images built from the
	// local redis-server binary; the tag is "<redis version>-<hash>".
	DefaultImageRepository = "justredis/redisserver"
	// BackendEnv names the environment variable that chooses the backend
	// when Options.Backend is BackendAuto: "binary" or "container".
	BackendEnv = "REDISSERVER_BACKEND"
	// BinaryEnv names the environment variable that gives the redis-server
	// binary when Options.Binary is empty.
	BinaryEnv = "REDIS_SERVER_BIN"
	// ClusterBusPortOffset is the distance between a cluster node's port and
	// its cluster bus port (Redis's own +10000); Start keeps both free.
	ClusterBusPortOffset = 10000
)

// DefaultUserRules are the ACL rules of a User whose Rules are nil: every
// key, every channel, every command.
var DefaultUserRules = []string{"~*", "&*", "+@all"}

// Backend selects where a server runs.
type Backend int

// The backends.
const (
	// BackendAuto is the zero value: the backend named by $REDISSERVER_BACKEND
	// ("binary" or "container"), or BackendBinary when it is unset.
	BackendAuto Backend = iota
	// BackendBinary runs a local redis-server process.
	BackendBinary
	// BackendContainer runs redis-server in a Docker container, through
	// testcontainers-go.
	BackendContainer
)

// String returns "auto", "binary" or "container".
func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendBinary:
		return "binary"
	case BackendContainer:
		return "container"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// resolve turns BackendAuto into a concrete backend.
func (b Backend) resolve() (Backend, error) {
	if b != BackendAuto {
		if b != BackendBinary && b != BackendContainer {
			return b, fmt.Errorf("%w: unknown backend %v", ErrInvalidOptions, b)
		}
		return b, nil
	}
	switch v := strings.TrimSpace(os.Getenv(BackendEnv)); v {
	case "", "binary":
		return BackendBinary, nil
	case "container", "docker":
		return BackendContainer, nil
	default:
		return b, fmt.Errorf("%w: $%s=%q (want \"binary\" or \"container\")", ErrInvalidOptions, BackendEnv, v)
	}
}

// Options describe a server. The zero value is a plain server from the local
// redis-server binary on a free loopback port, without persistence.
type Options struct {
	// Backend selects a local process or a container; see BackendAuto.
	Backend Backend

	// Binary is the redis-server executable: a path, or a name looked up in
	// $PATH. Empty means $REDIS_SERVER_BIN, then "redis-server" on $PATH.
	// The container backend builds its image from this binary too.
	Binary string

	// Port is the port to listen on. Zero means a free port chosen by
	// redisserver (retried on a bind race, see DefaultStartAttempts); a
	// fixed port is not retried: a start that finds it taken fails with
	// ErrPortInUse.
	Port int

	// Config holds redis.conf lines ("maxmemory 10mb") appended after the
	// ones redisserver writes, so they override them.
	Config []string
	// Args are extra redis-server command-line arguments ("--maxmemory",
	// "10mb"), given after the configuration file, so they override it.
	Args []string

	// Password is the default user's password (requirepass), and the one
	// the server gives its master when it is a replica (masterauth), so
	// servers sharing a password replicate from each other. Do
	// authenticates with it unless AdminUser names another user.
	Password string
	// Users are ACL users created by "user" directives.
	Users []User
	// AdminUser is the user Do authenticates as: "" (or "default") means
	// the default user with Password; otherwise it must name one of Users.
	AdminUser string

	// UnixSocket makes the server also listen on a unix socket; see
	// Server.UnixSocket. For containers the socket's directory is a host
	// directory mounted into the container.
	UnixSocket bool

	// TLS, when set, makes the port a TLS port (the plain port is disabled).
	TLS *TLSOptions

	// Cluster enables cluster mode (cluster-enabled yes, nodes.conf in the
	// server's directory); Start keeps Port+ClusterBusPortOffset free for
	// the cluster bus as well.
	Cluster bool

	// Log, when set, receives every line of the server log as it is written
	// (for example a writer that calls t.Log), one whole line (ending in
	// "\n") per call, from the server's own goroutines (those that read the
	// log of each run). The writes of one server come one at a time, but a
	// writer shared between servers is written by all of them at once: it
	// must then be safe for concurrent use (clusterharness serialises its
	// nodes' writes itself). Writes go on until Stop returns: read a writer
	// that is not safe for concurrent use only after that. Logs returns the
	// log anyway.
	Log io.Writer
	// LogLimit is how many bytes of log Logs keeps; zero means
	// DefaultLogLimit.
	LogLimit int

	// StartTimeout bounds Run's start; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// StopTimeout is how long Stop and Restart wait after SIGTERM before
	// SIGKILL; zero means DefaultStopTimeout.
	StopTimeout time.Duration

	// Container holds the settings of the container backend.
	Container ContainerOptions
}

// User is an ACL user, written as "user <Name> on ><Password> <Rules...>".
type User struct {
	// Name is the user name; it must not be empty or contain spaces.
	Name string
	// Password is the user's password; empty means "nopass".
	Password string
	// Rules are ACL rules such as "~cache:*" or "+get"; nil means
	// DefaultUserRules.
	Rules []string
}

// TLSOptions make the server speak TLS on its port. Tests generate their own
// certificates; the certificate should allow both server and client
// authentication (ExtKeyUsageServerAuth and ExtKeyUsageClientAuth), as Redis
// also presents it on replication and cluster bus links.
type TLSOptions struct {
	// CertFile and KeyFile are the server's PEM certificate and key.
	CertFile, KeyFile string
	// CAFile is a PEM bundle of the CAs that verify client certificates, and
	// that Do uses to verify the server when ClientConfig is nil.
	CAFile string
	// AuthClients requires clients to present a certificate
	// (tls-auth-clients yes). Do then presents CertFile/KeyFile unless
	// ClientConfig says otherwise.
	AuthClients bool
	// ClientConfig is the TLS configuration Do (and the readiness PING) use;
	// nil means one built from CAFile (and CertFile/KeyFile when
	// AuthClients), verifying the server against the host of Addr.
	ClientConfig *tls.Config
}

// ContainerOptions are the settings of the container backend.
type ContainerOptions struct {
	// Image is the image to run. Empty means an image built (once, then
	// cached by tag) from the local redis-server binary; see the package
	// documentation. A named image must be present in the local engine:
	// redisserver never pulls. It must run redis-server with the arguments
	// it is given (its first argument is a .conf file path), as the official
	// redis images do.
	Image string
	// Network is the Docker network to attach the container to (see
	// NewNetwork); empty means Docker's default bridge network. The
	// server's ports are published on this network's gateway address.
	Network string
}

// validate checks what can be checked without touching the system.
func (o *Options) validate() error {
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrInvalidOptions, o.Port)
	}
	if o.Cluster && o.Port+ClusterBusPortOffset > 65535 {
		return fmt.Errorf("%w: cluster port %d leaves no room for its bus port", ErrInvalidOptions, o.Port)
	}
	if o.StopTimeout < 0 || o.StartTimeout < 0 || o.LogLimit < 0 {
		return fmt.Errorf("%w: negative timeout or limit", ErrInvalidOptions)
	}
	names := map[string]bool{}
	for _, u := range o.Users {
		if u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n\"'") {
			return fmt.Errorf("%w: ACL user name %q", ErrInvalidOptions, u.Name)
		}
		names[u.Name] = true
	}
	if o.AdminUser != "" && o.AdminUser != "default" && !names[o.AdminUser] {
		return fmt.Errorf("%w: AdminUser %q is not one of Users", ErrInvalidOptions, o.AdminUser)
	}
	for _, line := range o.Config {
		if strings.ContainsAny(line, "\r\n") {
			return fmt.Errorf("%w: config line %q spans lines", ErrInvalidOptions, line)
		}
	}
	if t := o.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "" || t.CAFile == "") {
		return fmt.Errorf("%w: TLS needs CertFile, KeyFile and CAFile", ErrInvalidOptions)
	}
	return nil
}

// authArgs returns the AUTH command Do sends first, or nil when none is
// needed.
func (o *Options) authArgs() []string {
	if o.AdminUser == "" || o.AdminUser == "default" {
		if o.Password == "" {
			return nil
		}
		return []string{"AUTH", o.Password}
	}
	for _, u := range o.Users {
		if u.Name == o.AdminUser {
			return []string{"AUTH", u.Name, u.Password}
		}
	}
	return nil
}

func (o *Options) stopTimeout() time.Duration {
	if o.StopTimeout > 0 {
		return o.StopTimeout
	}
	return DefaultStopTimeout
}

func (o *Options) startTimeout() time.Duration {
	if o.StartTimeout > 0 {
		return o.StartTimeout
	}
	return DefaultStartTimeout
}

func (o *Options) logLimit() int {
	if o.LogLimit > 0 {
		return o.LogLimit
	}
	return DefaultLogLimit
}
