package client

import (
	"encoding"
	"fmt"
	"reflect"
	"time"

	"github.com/justredis/justredis/resp"
)

// EncodeFunc appends one command argument to dst as a complete RESP bulk
// string (use resp.AppendBulk, resp.AppendBulkString, ... or DefaultEncode
// for the types it knows). It runs on the calling goroutine, once per
// argument, before anything is sent: an error stops the command.
type EncodeFunc func(dst []byte, arg any) ([]byte, error)

// DefaultEncode encodes strings, byte slices, integers, floats and bools of
// the built-in types (as resp.AppendArg does), time.Time as RFC 3339 text
// with nanoseconds (not its binary form, which nothing but Go reads), then
// encoding.BinaryMarshaler and encoding.TextMarshaler values, then named
// types of those kinds (type ID int64, type Name string) as their underlying
// value. It refuses what it cannot encode without guessing: a nil pointer (a
// marshaler would panic, or send "<nil>"), time.Duration (Redis takes
// seconds or milliseconds, EX or PX, and its nanoseconds would set a TTL a
// million times too long; a type defined from it, type TTL time.Duration,
// cannot be told from an int64 and is sent as its nanoseconds), a named type
// with a String method (its name or its number?), and one whose pointer has
// a marshaler (pass the pointer). Refusals are errors wrapping
// resp.ErrUnsupportedArg.
func DefaultEncode(dst []byte, arg any) ([]byte, error) {
	if out, err := resp.AppendArg(dst, arg); err == nil {
		return out, nil
	}
	if v := reflect.ValueOf(arg); v.Kind() == reflect.Pointer && v.IsNil() {
		return dst, fmt.Errorf("%w: a nil %T", resp.ErrUnsupportedArg, arg)
	}
	switch a := arg.(type) {
	case time.Time:
		return resp.AppendBulkString(dst, a.Format(time.RFC3339Nano)), nil
	case *time.Time:
		return resp.AppendBulkString(dst, a.Format(time.RFC3339Nano)), nil
	case encoding.BinaryMarshaler:
		b, err := a.MarshalBinary()
		if err != nil {
			return dst, err
		}
		return resp.AppendBulk(dst, b), nil
	case encoding.TextMarshaler:
		b, err := a.MarshalText()
		if err != nil {
			return dst, err
		}
		return resp.AppendBulk(dst, b), nil
	case time.Duration:
		return dst, fmt.Errorf("%w: time.Duration (pass a whole number of the unit the command takes, such as seconds for EX or milliseconds for PX)", resp.ErrUnsupportedArg)
	case fmt.Stringer:
		return dst, fmt.Errorf("%w: %T has a String method: pass the string or the number it should send", resp.ErrUnsupportedArg, arg)
	}
	if t := reflect.TypeOf(arg); t != nil && (reflect.PointerTo(t).Implements(textMarshaler) || reflect.PointerTo(t).Implements(binaryMarshaler)) {
		return dst, fmt.Errorf("%w: %T has its marshaler on the pointer: pass a *%T", resp.ErrUnsupportedArg, arg, arg)
	}
	return appendKind(dst, arg)
}

var (
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	binaryMarshaler = reflect.TypeFor[encoding.BinaryMarshaler]()
)

// appendKind encodes a value of a named type by its kind, as AppendArg
// encodes the built-in type of that kind.
func appendKind(dst []byte, arg any) ([]byte, error) {
	v := reflect.ValueOf(arg)
	switch v.Kind() {
	case reflect.String:
		return resp.AppendBulkString(dst, v.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return resp.AppendBulkInt(dst, v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return resp.AppendBulkUint(dst, v.Uint()), nil
	case reflect.Float32:
		return resp.AppendBulkFloat32(dst, float32(v.Float())), nil
	case reflect.Float64:
		return resp.AppendBulkFloat(dst, v.Float()), nil
	case reflect.Bool:
		return resp.AppendArg(dst, v.Bool())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return resp.AppendBulk(dst, v.Bytes()), nil
		}
	}
	return dst, fmt.Errorf("%w: %T", resp.ErrUnsupportedArg, arg)
}

// encode appends args as a command with the handle's encoder.
func (db *Database) encode(dst []byte, args []any) ([]byte, error) {
	enc := db.enc
	if enc == nil {
		enc = DefaultEncode
	}
	start := len(dst)
	dst = resp.AppendArrayHeader(dst, len(args))
	for i, a := range args {
		var err error
		if dst, err = enc(dst, a); err != nil {
			return dst[:start], argError(args, i, err)
		}
	}
	return dst, nil
}

// argError is the error for args[i], which the encoder refused with err.
func argError(args []any, i int, err error) error {
	name, _ := argString(args[0])
	return &CommandError{Command: name, Err: &resp.ArgError{Index: i, Err: err}}
}

// bigArgMin: a string argument at least this long is not copied into its
// request when the default encoder is used; the writer sends it from the
// caller's string (see bigArg), with writev where the connection allows.
// Below it, copying is cheaper than another piece to write.
const bigArgMin = 2 << 10

// encodeRequest encodes args into r: as encode does, except that with the
// default encoder big string arguments are referred to, not copied.
func (db *Database) encodeRequest(r *request, args []any) error {
	if db.enc != nil {
		var err error
		r.buf, err = db.encode(r.buf[:0], args)
		return err
	}
	dst := resp.AppendArrayHeader(r.buf[:0], len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			// The commonest argument, encoded here rather than through
			// DefaultEncode: two calls fewer, and a shallower stack.
			if len(s) >= bigArgMin {
				dst = r.appendBig(dst, s)
			} else {
				dst = resp.AppendBulkString(dst, s)
			}
			continue
		}
		var err error
		if dst, err = DefaultEncode(dst, a); err != nil {
			return argError(args, i, err) // the caller recycles r
		}
	}
	r.buf = dst
	return nil
}

// encodeStrings encodes args into r, big ones by reference.
func (r *request) encodeStrings(args []string) {
	dst := resp.AppendArrayHeader(r.buf[:0], len(args))
	for _, s := range args {
		if len(s) >= bigArgMin {
			dst = r.appendBig(dst, s)
		} else {
			dst = resp.AppendBulkString(dst, s)
		}
	}
	r.buf = dst
}

// appendBig appends a bulk string's header and CRLF to dst, r's buf being
// built, and records s to be sent between them.
func (r *request) appendBig(dst []byte, s string) []byte {
	dst = resp.AppendBulkHeader(dst, len(s))
	r.big = append(r.big, bigArg{at: len(dst), s: s})
	r.bigLen += len(s)
	return append(dst, '\r', '\n')
}
