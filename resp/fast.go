package resp

import (
	"bytes"
	"unsafe"
)

// decodeSimple decodes, in one pass, a complete top-level value of the kinds
// that make up most replies: simple strings and errors, integers, bulk
// strings and nulls. It reports ok == false for anything else, and for
// anything incomplete or malformed, leaving those to the general two-pass
// path (which finds the same values and every error).
func decodeSimple(buf []byte, lim *Limits, copy bool) (v Value, n int, ok bool) {
	if len(buf) < 3 {
		return v, 0, false
	}
	switch t := Type(buf[0]); t {
	case TypeSimpleString, TypeError:
		i := bytes.IndexByte(buf, '\r')
		if i < 0 || i+1 >= len(buf) || buf[i+1] != '\n' || i > lim.MaxLineLen ||
			bytes.IndexByte(buf[1:i], '\n') >= 0 {
			return v, 0, false
		}
		v.Type = t
		if t == TypeSimpleString {
			if s, ok := interned(buf[1:i]); ok {
				v.Str = s
				return v, i + 2, true
			}
		}
		v.Str = bytesToString(buf[1:i], copy)
		return v, i + 2, true
	case TypeInteger:
		num, next, err := parseInt(buf, 1, ErrInvalidNumber)
		if err != nil {
			return v, 0, false
		}
		return Value{Type: t, Int: num}, next, true
	case TypeBulkString:
		if buf[1] == '?' {
			return v, 0, false // streamed
		}
		size, start, err := parseInt(buf, 1, ErrInvalidLength)
		if err != nil || size < -1 || size > lim.MaxBulkLen {
			return v, 0, false
		}
		if size == -1 {
			return Value{Type: TypeNull}, start, true
		}
		end := start + int(size)
		if end+2 > len(buf) || buf[end] != '\r' || buf[end+1] != '\n' {
			return v, 0, false
		}
		return Value{Type: t, Str: bytesToString(buf[start:end], copy)}, end + 2, true
	case TypeNull:
		if buf[1] != '\r' || buf[2] != '\n' {
			return v, 0, false
		}
		return Value{Type: t}, 3, true
	}
	return v, 0, false
}

// bytesToString returns b as a string, copied or borrowed.
func bytesToString(b []byte, copy bool) string {
	if len(b) == 0 {
		return ""
	}
	if copy {
		return string(b)
	}
	return unsafe.String(&b[0], len(b))
}
