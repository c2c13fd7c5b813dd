package resp

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every *ProtocolError matches ErrProtocol and exactly one of
// the more precise sentinels under errors.Is.
var (
	// ErrProtocol matches every malformed-input error of the decoders.
	ErrProtocol = errors.New("resp: protocol error")
	// ErrInvalidType: the first byte of a value is not a RESP type byte.
	ErrInvalidType = errors.New("resp: invalid type byte")
	// ErrInvalidLength: a length or count is not a number, or is negative
	// where only -1 (null) is allowed, or a streamed chunk is malformed.
	ErrInvalidLength = errors.New("resp: invalid length")
	// ErrTooLarge: a length, count or line is over the decoder's Limits.
	ErrTooLarge = errors.New("resp: length over limit")
	// ErrTooDeep: aggregates are nested deeper than the decoder's Limits.
	ErrTooDeep = errors.New("resp: nesting too deep")
	// ErrMissingCRLF: a line or a bulk payload does not end with "\r\n".
	ErrMissingCRLF = errors.New("resp: missing CRLF")
	// ErrInvalidNumber: an integer, double or boolean does not parse (a
	// big number may hold any text: see BigNumber).
	ErrInvalidNumber = errors.New("resp: invalid number")
	// ErrInvalidValue: a value is well framed but not valid for its type, such
	// as a verbatim string without its "fmt:" prefix or an attribute with
	// nothing after it.
	ErrInvalidValue = errors.New("resp: invalid value")

	// ErrUnsupportedArg: AppendArg was given a Go type it cannot encode.
	ErrUnsupportedArg = errors.New("resp: unsupported argument type")
)

// ProtocolError describes malformed input found by a decoder. It wraps one of
// the package's sentinels, and errors.Is(err, ErrProtocol) is always true.
type ProtocolError struct {
	// Err is the precise sentinel: ErrInvalidType, ErrInvalidLength,
	// ErrTooLarge, ErrTooDeep, ErrMissingCRLF, ErrInvalidNumber or
	// ErrInvalidValue.
	Err error
	// Offset is where the problem was found: the byte offset from the start
	// of the buffer given to a Decoder, or from the start of the stream for a
	// Reader.
	Offset int64
	// Detail is a short excerpt or explanation, possibly empty.
	Detail string
	// Framed is set when the malformed value was still well framed: a
	// number, boolean, double or null that does not parse on a line that
	// ends in CRLF, or a verbatim string without its "fmt:" prefix. It is
	// then the type of the top-level value that held it (TypePush for an
	// out-of-band push, say; an attribute in front does not count), and
	// that value alone is lost: a Reader has consumed it and goes on with
	// the next (the error is not sticky), and a Decoder returns its length
	// as n. Zero for every other error, after which the stream cannot be
	// trusted.
	Framed Type
}

// Error implements error.
func (e *ProtocolError) Error() string {
	s := e.Err.Error() + " at offset " + strconv.FormatInt(e.Offset, 10)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the precise sentinel.
func (e *ProtocolError) Unwrap() error { return e.Err }

// Is makes every ProtocolError match ErrProtocol.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

// Error is an error reply sent by the server ("-ERR ..." or "!..."), as a Go
// error. Use errors.As to get at it through wrapping.
type Error struct {
	// Msg is the whole message as the server sent it, e.g.
	// "MOVED 3999 127.0.0.1:6381" or "ERR unknown command 'FOO'".
	Msg string
	// Prefix is the error code: the first word of Msg when it is written in
	// capitals ("ERR", "WRONGTYPE", "MOVED", "ASK", "NOSCRIPT", "LOADING",
	// "NOAUTH", ...), otherwise "".
	Prefix string
	// Slot is the hash slot of a MOVED or ASK redirection, otherwise -1.
	Slot int
	// Addr is the "host:port" target of a MOVED or ASK redirection (exactly
	// as the server wrote it; the host may be empty, meaning the host the
	// reply came from), otherwise "".
	Addr string
}

// NewError parses an error message into an *Error.
func NewError(msg string) *Error {
	e := &Error{Msg: msg, Slot: -1}
	word := msg
	if i := strings.IndexByte(msg, ' '); i >= 0 {
		word = msg[:i]
	}
	if isErrorCode(word) {
		e.Prefix = word
	}
	if e.Prefix == "MOVED" || e.Prefix == "ASK" {
		// "MOVED <slot> <host>:<port>"
		f := strings.Fields(msg)
		if len(f) == 3 {
			if slot, err := strconv.Atoi(f[1]); err == nil && slot >= 0 && slot < 16384 {
				e.Slot, e.Addr = slot, f[2]
			}
		}
	}
	return e
}

// isErrorCode reports whether w looks like a Redis error code: capital
// letters, digits and '_' with at least one capital letter.
func isErrorCode(w string) bool {
	if w == "" {
		return false
	}
	letter := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return letter
}

// Error implements error; it returns the server's message unchanged.
func (e *Error) Error() string { return e.Msg }

// IsRedirect reports whether e is a MOVED or ASK redirection with a valid
// slot and address.
func (e *Error) IsRedirect() bool { return e.Slot >= 0 && (e.Prefix == "MOVED" || e.Prefix == "ASK") }

// ErrorPrefix returns the Prefix of the *Error inside err, or "" when err
// does not wrap a server error reply.
func ErrorPrefix(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Prefix
	}
	return ""
}
