package resp

import (
	"math"
	"strconv"
)

// Command encoding: a command is an array of bulk strings.

// AppendCommand appends args as a command (an array of bulk strings). Each
// argument is encoded by AppendArg; on an unsupported type it returns dst
// unchanged and an error wrapping ErrUnsupportedArg, so nothing half-written
// is ever sent. Strings, byte slices, integers and floats encode without
// allocating.
func AppendCommand(dst []byte, args ...any) ([]byte, error) {
	start := len(dst)
	dst = AppendArrayHeader(dst, len(args))
	for i, a := range args {
		var err error
		if dst, err = AppendArg(dst, a); err != nil {
			return dst[:start], &ArgError{Index: i, Err: err}
		}
	}
	return dst, nil
}

// AppendCommandStrings appends args as a command.
func AppendCommandStrings(dst []byte, args ...string) []byte {
	dst = AppendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = AppendBulkString(dst, a)
	}
	return dst
}

// AppendArg appends one command argument as a bulk string. It accepts the
// built-in types string, []byte, int, int8 to int64, uint, uint8 to uint64
// (in decimal), float32 and float64 (with as many digits as a round trip
// needs, in plain decimal notation for 1e-7 <= |f| < 1e21, "inf"/"-inf"
// for infinities; see AppendBulkFloat) and bool ("1" or "0"); not named
// types, even of those kinds (type ID int64, time.Duration). Any other type
// gives ErrUnsupportedArg and leaves dst unchanged.
func AppendArg(dst []byte, arg any) ([]byte, error) {
	switch a := arg.(type) {
	case string:
		return AppendBulkString(dst, a), nil
	case []byte:
		return AppendBulk(dst, a), nil
	case int:
		return AppendBulkInt(dst, int64(a)), nil
	case int64:
		return AppendBulkInt(dst, a), nil
	case int32:
		return AppendBulkInt(dst, int64(a)), nil
	case int16:
		return AppendBulkInt(dst, int64(a)), nil
	case int8:
		return AppendBulkInt(dst, int64(a)), nil
	case uint:
		return AppendBulkUint(dst, uint64(a)), nil
	case uint64:
		return AppendBulkUint(dst, a), nil
	case uint32:
		return AppendBulkUint(dst, uint64(a)), nil
	case uint16:
		return AppendBulkUint(dst, uint64(a)), nil
	case uint8:
		return AppendBulkUint(dst, uint64(a)), nil
	case float64:
		return AppendBulkFloat(dst, a), nil
	case float32:
		return AppendBulkFloat32(dst, a), nil
	case bool:
		if a {
			return append(dst, "$1\r\n1\r\n"...), nil
		}
		return append(dst, "$1\r\n0\r\n"...), nil
	}
	return dst, ErrUnsupportedArg
}

// AppendBulkInt appends n in decimal as a bulk string.
func AppendBulkInt(dst []byte, n int64) []byte {
	var tmp [20]byte
	return appendBulkText(dst, strconv.AppendInt(tmp[:0], n, 10))
}

// AppendBulkUint appends n in decimal as a bulk string.
func AppendBulkUint(dst []byte, n uint64) []byte {
	var tmp [20]byte
	return appendBulkText(dst, strconv.AppendUint(tmp[:0], n, 10))
}

// AppendBulkFloat appends f as a bulk string, with as many digits as a round
// trip needs, in plain decimal notation when 1e-7 <= |f| < 1e21 or f is
// zero ("1000000", "0.5", "-0"), so that an integral float is an integer
// to Redis (INCRBY, SETRANGE and EXPIRE take "1000000", not "1e+06"), and in
// exponent notation beyond ("1e+21", "1e-08"); infinities are "inf" and
// "-inf" and NaN is "nan", as Redis reads them.
func AppendBulkFloat(dst []byte, f float64) []byte {
	var tmp [32]byte
	return appendBulkText(dst, appendFloatText(tmp[:0], f))
}

// AppendBulkFloat32 is AppendBulkFloat for a float32, with the shortest
// digits that round-trip as a float32 (float32(0.1) is "0.1").
func AppendBulkFloat32(dst []byte, f float32) []byte {
	if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
		return AppendBulkFloat(dst, float64(f))
	}
	var tmp [32]byte
	return appendBulkText(dst, appendFloatDigits(tmp[:0], float64(f), 32))
}

func appendBulkText(dst, text []byte) []byte {
	dst = appendHeader(dst, '$', int64(len(text)))
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

// ArgError reports which argument of a command could not be encoded.
type ArgError struct {
	Index int   // position of the argument, from 0 (the command name)
	Err   error // wraps ErrUnsupportedArg, or the error of a custom encoder
}

// Error implements error.
func (e *ArgError) Error() string {
	return "resp: argument " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ArgError) Unwrap() error { return e.Err }
