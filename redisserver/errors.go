package redisserver

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of them (or a
// context error, or an error from the operating system or the Docker
// engine); test them with errors.Is.
var (
	// ErrInvalidOptions: the Options cannot describe a server (an unknown
	// backend, a user without a name, TLS without a certificate, ...).
	ErrInvalidOptions = errors.New("redisserver: invalid options")
	// ErrBinaryNotFound: no redis-server executable was found (Options.Binary,
	// $REDIS_SERVER_BIN, then "redis-server" on $PATH).
	ErrBinaryNotFound = errors.New("redisserver: redis-server binary not found")
	// ErrNotReady: the server did not answer a PING (with anything but a
	// LOADING error) before the context ended, or its answer showed that it
	// never will: a TLS certificate that the readiness probe's TLS
	// configuration rejects (the error wraps the verification error), or,
	// where the server's identity cannot be checked otherwise (no /proc),
	// a refusal of the probe's INFO (NOAUTH, WRONGPASS).
	ErrNotReady = errors.New("redisserver: server not ready")
	// ErrExited: the server process (or container) exited while it was
	// starting; the StartError that wraps it carries the end of its log.
	ErrExited = errors.New("redisserver: server exited during startup")
	// ErrPortInUse: the port the server had to listen on was taken by
	// someone else. Start retries with another port unless Options.Port
	// fixed it; Restart never changes the port and returns this error.
	ErrPortInUse = errors.New("redisserver: port already in use")
	// ErrStopped: the server was stopped with Stop and cannot be used again.
	ErrStopped = errors.New("redisserver: server stopped")
	// ErrNotRunning: the operation needs a running server, and this one was
	// killed (or exited); Restart starts it again.
	ErrNotRunning = errors.New("redisserver: server not running")
	// ErrNotSupported: the backend (or the operating system) cannot do this,
	// such as network disconnection for the binary backend or Pause on
	// Windows.
	ErrNotSupported = errors.New("redisserver: not supported by this backend")
	// ErrDockerUnavailable: no Docker engine answered.
	ErrDockerUnavailable = errors.New("redisserver: no Docker engine available")
	// ErrImageNotFound: ContainerOptions.Image names an image that is not
	// present in the local engine (redisserver never pulls images).
	ErrImageNotFound = errors.New("redisserver: image not present locally")
	// ErrImageBuild: the image could not be built from the local
	// redis-server binary.
	ErrImageBuild = errors.New("redisserver: image build failed")
)

// StartError reports a failed Start or Restart, with the end of the server
// log, which usually says why (a bad directive, a port already in use, ...).
type StartError struct {
	// Op is "start" or "restart".
	Op string
	// Addr is the address the server was to listen on.
	Addr string
	// LogTail holds the last lines the server logged during this attempt.
	LogTail string
	// Err is the cause: it wraps ErrExited, ErrPortInUse or ErrNotReady, a
	// context error, or an error from the OS or the Docker engine.
	Err error
}

// Error implements error; the log tail follows the message, indented.
func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redisserver: %s %s: %v", e.Op, e.Addr, e.Err)
	if tail := strings.TrimSpace(e.LogTail); tail != "" {
		b.WriteString("\n\tserver log (last lines):")
		for line := range strings.SplitSeq(tail, "\n") {
			b.WriteString("\n\t\t")
			b.WriteString(line)
		}
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }
