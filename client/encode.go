package client

import (
	"encoding"
	"fmt"

	"github.com/justredis/justredis/resp"
)

// EncodeFunc appends one command argument to dst as a complete RESP bulk
// string (use resp.AppendBulk, resp.AppendBulkString, ... or DefaultEncode
// for the types it knows). It runs on the calling goroutine, once per
// argument, before anything is sent: an error stops the command.
type EncodeFunc func(dst []byte, arg any) ([]byte, error)

// DefaultEncode encodes strings, byte slices, every integer and float kind
// and bool (as resp.AppendArg does), then encoding.BinaryMarshaler and
// encoding.TextMarshaler values. Anything else is an error wrapping
// resp.ErrUnsupportedArg.
func DefaultEncode(dst []byte, arg any) ([]byte, error) {
	if out, err := resp.AppendArg(dst, arg); err == nil {
		return out, nil
	}
	switch a := arg.(type) {
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
	}
	return dst, fmt.Errorf("%w: %T", resp.ErrUnsupportedArg, arg)
}

// encode appends args as a command with the handle's encoder.
func (db Database) encode(dst []byte, args []any) ([]byte, error) {
	enc := db.enc
	if enc == nil {
		enc = DefaultEncode
	}
	start := len(dst)
	dst = resp.AppendArrayHeader(dst, len(args))
	for i, a := range args {
		var err error
		if dst, err = enc(dst, a); err != nil {
			name, _ := argString(args[0])
			return dst[:start], &CommandError{Command: name, Err: &resp.ArgError{Index: i, Err: err}}
		}
	}
	return dst, nil
}
