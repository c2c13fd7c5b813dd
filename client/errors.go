package client

import (
	"errors"
	"strconv"
	"strings"

	"github.com/justredis/justredis/resp"
)

// Sentinel errors. Inspect errors with errors.Is and errors.As, and ask
// NotExecuted / MaybeExecuted whether the server may have run a command.
var (
	// ErrClosed: the Mux was closed (before or while the command was pending).
	ErrClosed = errors.New("client: closed")
	// ErrNil: a typed helper (String, Int64, ...) got a null reply. Do never
	// returns it: there a null is a resp.Value of type resp.TypeNull.
	ErrNil = errors.New("client: nil reply")
	// ErrEmptyCommand: Do, Command or a transaction got no arguments.
	ErrEmptyCommand = errors.New("client: empty command")
	// ErrNotAllowed: the command changes connection state and cannot run on
	// the shared connection (see CommandError for the reason and what to use).
	ErrNotAllowed = errors.New("client: command not allowed on the shared connection")
	// ErrConnection: the connection failed (dial, handshake, write, read,
	// protocol error, socket timeout). It is wrapped in a *RequestError. A
	// malformed reply in a sound frame is not a connection failure (see
	// the package doc).
	ErrConnection = errors.New("client: connection failed")
	// ErrSocketTimeout: no reply arrived within Config.SocketTimeout while
	// commands were waiting, or a write stalled that long.
	ErrSocketTimeout = errors.New("client: socket timeout")
	// ErrAuth: the server refused the credentials during the handshake.
	// Commands then fail with it at once for a second, without
	// redialling; the next command after that dials again.
	ErrAuth = errors.New("client: authentication failed")
	// ErrInvalidDB: the server refused to SELECT the Database's number,
	// or the number cannot be used here (negative, or not 0 on a cluster).
	ErrInvalidDB = errors.New("client: invalid database")
	// ErrUnexpectedReply: a reply did not have the shape the client needed
	// (for a typed helper: the wrong type).
	ErrUnexpectedReply = errors.New("client: unexpected reply type")
	// ErrTxAborted: EXEC refused the transaction (EXECABORT) because a
	// command in it was rejected when queued.
	ErrTxAborted = errors.New("client: transaction aborted")
	// ErrTxNotAtomic: the server refused MULTI (an ACL rule denying it,
	// say), so it ran the transaction's commands one by one as they came,
	// outside any transaction, and refused EXEC. Each Future holds its
	// command's own reply; the error wraps MULTI's refusal. The commands
	// ran: neither NotExecuted nor MaybeExecuted, and a retry runs them
	// again.
	ErrTxNotAtomic = errors.New("client: MULTI refused: the commands ran one by one, outside a transaction")
	// ErrTxNotExecuted: the transaction's future was read before Exec, or
	// after Discard; or Exec was called again, or after Discard.
	ErrTxNotExecuted = errors.New("client: transaction not executed")
	// ErrTxFailed: a key watched by Database.Watch changed before EXEC, so
	// the transaction did not run. Run the function again to retry.
	ErrTxFailed = errors.New("client: transaction failed: a watched key changed")
	// ErrCrossSlot: under a sharded router (Redis Cluster), a command,
	// transaction, script or WATCH names keys that hash to different slots;
	// nothing was sent. cluster.ErrCrossSlot is this same error.
	ErrCrossSlot = errors.New("keys in different hash slots")
	// ErrConnDone: a Conn (or Tx) was used after its function returned.
	ErrConnDone = errors.New("client: dedicated connection used after its function returned")
	// ErrConnBroken: a command was sent on a Conn, or on a Watch's Tx (or
	// Watch came to send EXEC), after an earlier one failed or was
	// abandoned (its ctx ended) on it. The late reply could be taken for
	// the new command's, so nothing more is sent (NotSent; a Conn's
	// Receive still reads). Its message names the earlier failure; it does
	// not wrap it, so that a later Do with a live ctx does not look like a
	// timeout.
	ErrConnBroken = errors.New("client: dedicated connection out of step after an earlier failure")
)

// Error is a server error reply, as returned by Do and friends: its Prefix
// is the error code ("ERR", "WRONGTYPE", ...). It is resp.Error.
type Error = resp.Error

// Execution is what the client knows about whether the server ran a command.
type Execution uint8

const (
	// NotSent: the request never left the client (dial failed, the
	// connection broke while it was queued, its ctx ended first, or the
	// client was closed). Retrying it cannot run it twice.
	NotSent Execution = iota
	// MaybeSent: the request was written, at least in part, and no reply
	// came back: the server may or may not have run it.
	MaybeSent
)

// String says it in words: "not sent" or "maybe executed".
func (e Execution) String() string {
	if e == NotSent {
		return "not sent"
	}
	return "maybe executed"
}

// RequestError is a failure to get a reply, other than a server error reply.
// It says whether the server may have run the command. errors.Is sees
// through it to its cause: ErrConnection, ErrSocketTimeout, ErrClosed,
// context.Canceled, context.DeadlineExceeded, a *resp.ProtocolError, a
// net.Error...
type RequestError struct {
	Addr     string    // the server, "" when none was chosen
	Exec     Execution // whether the server may have run the command
	Attempts int       // how many times the command was tried
	Err      error     // the cause
}

// Error implements error.
func (e *RequestError) Error() string {
	s := "client: "
	if e.Addr != "" {
		s += e.Addr + ": "
	}
	s += trimPrefix(e.Err.Error()) + " (" + e.Exec.String()
	if e.Attempts > 1 {
		s += ", " + strconv.Itoa(e.Attempts) + " attempts"
	}
	return s + ")"
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// NotExecuted reports whether err says, for certain, that the server did not
// run the command: it was never sent (a *RequestError with Exec NotSent);
// the client refused it (a *CommandError); the server refused it without
// running it (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, LOADING, NOSCRIPT, BUSY,
// MASTERDOWN: returned once the retry budget is spent); or a transaction did
// not run (ErrTxFailed, ErrTxAborted). Retrying it cannot apply it twice.
func NotExecuted(err error) bool {
	if errors.Is(err, ErrTxNotAtomic) {
		return false // whatever MULTI's refusal, which it wraps, says
	}
	var re *RequestError
	if errors.As(err, &re) {
		return re.Exec == NotSent
	}
	var ce *CommandError
	if errors.As(err, &ce) || errors.Is(err, ErrTxFailed) || errors.Is(err, ErrTxAborted) {
		return true
	}
	switch resp.ErrorPrefix(err) {
	case "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "NOSCRIPT", "BUSY", "MASTERDOWN":
		return true
	}
	return false
}

// MaybeExecuted reports whether err says the command was sent and the
// outcome is unknown: the server may have run it. A server error reply other
// than those NotExecuted names is neither: the command ran and failed.
func MaybeExecuted(err error) bool {
	var re *RequestError
	return errors.As(err, &re) && re.Exec == MaybeSent
}

// CommandError reports a command that the client refuses before sending it.
type CommandError struct {
	Command string // the command name as given
	Reason  string // why, and what to use instead
	Err     error  // ErrNotAllowed, ErrEmptyCommand, or an encoding error
}

// Error implements error.
func (e *CommandError) Error() string {
	s := "client: " + e.Command + ": " + trimPrefix(e.Err.Error())
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the cause.
func (e *CommandError) Unwrap() error { return e.Err }

// trimPrefix drops the package prefix of a wrapped error's message, so that
// it is not repeated.
func trimPrefix(msg string) string {
	return strings.TrimPrefix(msg, "client: ")
}
