// Package resp implements the Redis serialization protocol, RESP2 and RESP3,
// without doing any I/O of its own.
//
// # Values
//
// A Value holds any RESP value: simple strings, errors, integers, bulk
// strings, nulls (RESP3's "_" as well as RESP2's "$-1" and "*-1"), arrays,
// maps, sets, doubles, booleans, big numbers, verbatim strings, pushes, and
// the attributes that may precede any of them (kept in Value.Attrs). Streamed
// strings ("$?" with ";" chunks) and streamed aggregates ("*?", "%?", "~?"
// ended by ".") are decoded into their ordinary equivalents.
//
// # Decoding
//
// Reader decodes a stream (a net.Conn, a *bufio.Reader, any io.Reader);
// Decoder decodes from byte slices the caller manages and reports "need
// more" (n == 0, nil error) when a frame is incomplete. Both validate a whole
// frame before allocating anything for it and then allocate at most two
// blocks for it, whatever its size: one for the nested Values, one for the
// string bytes. The common "+OK", "+QUEUED", "+PONG" replies and integers
// allocate nothing.
//
// Zero-copy is opt-in: ReadValueNoCopy and DecodeNoCopy return strings that
// point into the decoder's buffer, valid until the next call on the Reader
// (or as long as the caller's buffer is unchanged, for a Decoder).
//
// Every length on the wire is checked against Limits before it is trusted:
// bulk length (512 MiB by default, Redis's own), aggregate length, nesting
// depth and line length. Malformed input returns a *ProtocolError, which
// matches ErrProtocol and one precise sentinel (ErrInvalidType,
// ErrInvalidLength, ErrTooLarge, ErrTooDeep, ErrMissingCRLF,
// ErrInvalidNumber, ErrInvalidValue) under errors.Is; decoders never panic.
// A bad value whose frame is still sound (an integer that does not parse,
// on a line that ends in CRLF) costs that frame alone: the error's Framed
// says so, and a Reader reads on after it. Any other malformed input makes
// a Reader's error sticky.
//
// # Encoding
//
// Encoders append to a byte slice, like strconv.AppendInt: AppendCommand
// writes a command as an array of bulk strings (strings, byte slices,
// integers and floats without allocating), and there is an Append function
// for every value type, including streamed forms, for fake servers and
// tests. AppendValue writes any Value in RESP3; AppendValueRESP2 writes it
// the way Redis downgrades RESP3 types for a RESP2 client.
//
// # Server errors
//
// An error reply converts (Value.Err) to an *Error carrying the server's
// message, its code (Prefix: "ERR", "WRONGTYPE", "MOVED", "NOSCRIPT", ...) and,
// for MOVED and ASK redirections, the slot and address.
package resp
