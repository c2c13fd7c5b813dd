package resp

import (
	"math"
	"strconv"
	"strings"
)

// Value encoders. Each appends one value in its wire form to dst and returns
// the extended slice, like strconv.AppendInt; none of them allocates beyond
// growing dst.

// AppendSimpleString appends "+s\r\n". CR and LF in s, which the format
// cannot carry, are written as spaces (as Redis does).
func AppendSimpleString(dst []byte, s string) []byte {
	return appendLine(append(dst, '+'), s)
}

// AppendError appends the simple error "-msg\r\n"; CR and LF become spaces.
func AppendError(dst []byte, msg string) []byte {
	return appendLine(append(dst, '-'), msg)
}

// AppendBlobError appends a RESP3 bulk error "!len\r\nmsg\r\n".
func AppendBlobError(dst []byte, msg string) []byte {
	return appendLenString(dst, '!', msg)
}

// AppendInt appends the integer ":n\r\n".
func AppendInt(dst []byte, n int64) []byte {
	dst = strconv.AppendInt(append(dst, ':'), n, 10)
	return append(dst, '\r', '\n')
}

// AppendBulkString appends the bulk string "$len\r\ns\r\n".
func AppendBulkString(dst []byte, s string) []byte {
	return appendLenString(dst, '$', s)
}

// AppendBulk appends the bulk string "$len\r\nb\r\n".
func AppendBulk(dst []byte, b []byte) []byte {
	dst = appendHeader(dst, '$', int64(len(b)))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// AppendNull appends the RESP3 null "_\r\n".
func AppendNull(dst []byte) []byte { return append(dst, '_', '\r', '\n') }

// AppendNullBulk appends the RESP2 null bulk string "$-1\r\n".
func AppendNullBulk(dst []byte) []byte { return append(dst, "$-1\r\n"...) }

// AppendNullArray appends the RESP2 null array "*-1\r\n".
func AppendNullArray(dst []byte) []byte { return append(dst, "*-1\r\n"...) }

// AppendDouble appends the RESP3 double ",f\r\n" ("inf", "-inf" and "nan"
// for the special values), with as many digits as a round trip needs, in
// plain decimal notation for 1e-7 <= |f| < 1e21 ("1000000") and in
// exponent notation beyond ("1e+21"), as AppendBulkFloat.
func AppendDouble(dst []byte, f float64) []byte {
	dst = appendFloatText(append(dst, ','), f)
	return append(dst, '\r', '\n')
}

// AppendBool appends the RESP3 boolean "#t\r\n" or "#f\r\n".
func AppendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "#t\r\n"...)
	}
	return append(dst, "#f\r\n"...)
}

// AppendBigNumber appends the RESP3 big number "(digits\r\n". digits is
// normally an optionally signed run of decimal digits, but any text goes
// out as it is, as Redis sends a script's {big_number=...}; text with a CR
// or LF, which would break the line, is appended as a bulk string of the
// same text instead.
func AppendBigNumber(dst []byte, digits string) []byte {
	if strings.IndexByte(digits, '\r') >= 0 || strings.IndexByte(digits, '\n') >= 0 {
		return AppendBulkString(dst, digits)
	}
	return append(append(append(dst, '('), digits...), '\r', '\n')
}

// AppendVerbatim appends the RESP3 verbatim string "=len\r\nfmt:text\r\n".
// format must be three bytes, such as "txt" or "mkd"; any other is
// replaced by "txt" (decoders reject a verbatim string whose format is not
// three bytes).
func AppendVerbatim(dst []byte, format, text string) []byte {
	if len(format) != 3 {
		format = "txt"
	}
	dst = appendHeader(dst, '=', int64(len(format)+1+len(text)))
	dst = append(dst, format...)
	dst = append(dst, ':')
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

// AppendArrayHeader appends "*n\r\n"; n values must follow.
func AppendArrayHeader(dst []byte, n int) []byte { return appendHeader(dst, '*', int64(n)) }

// AppendBulkHeader appends "$n\r\n", the header of a bulk string of n
// bytes: the n bytes and a CRLF must follow. It lets a writer send a large
// payload from where it is (writev) instead of copying it after its header.
func AppendBulkHeader(dst []byte, n int) []byte { return appendHeader(dst, '$', int64(n)) }

// AppendSetHeader appends the RESP3 "~n\r\n"; n values must follow.
func AppendSetHeader(dst []byte, n int) []byte { return appendHeader(dst, '~', int64(n)) }

// AppendPushHeader appends the RESP3 ">n\r\n"; n values must follow.
func AppendPushHeader(dst []byte, n int) []byte { return appendHeader(dst, '>', int64(n)) }

// AppendMapHeader appends the RESP3 "%n\r\n"; n keys and values, alternately,
// must follow.
func AppendMapHeader(dst []byte, pairs int) []byte { return appendHeader(dst, '%', int64(pairs)) }

// AppendAttributeHeader appends the RESP3 "|n\r\n"; n keys and values, then
// the value the attribute belongs to, must follow.
func AppendAttributeHeader(dst []byte, pairs int) []byte {
	return appendHeader(dst, '|', int64(pairs))
}

// AppendStreamedStringHeader appends "$?\r\n", which starts a RESP3 streamed
// string; chunks (AppendStreamedChunk) and AppendStreamedStringEnd follow.
func AppendStreamedStringHeader(dst []byte) []byte { return append(dst, "$?\r\n"...) }

// AppendStreamedChunk appends one non-empty chunk ";len\r\ns\r\n" of a
// streamed string. An empty s appends nothing, as an empty chunk would end
// the string.
func AppendStreamedChunk(dst []byte, s string) []byte {
	if s == "" {
		return dst
	}
	return appendLenString(dst, ';', s)
}

// AppendStreamedStringEnd appends ";0\r\n", which ends a streamed string.
func AppendStreamedStringEnd(dst []byte) []byte { return append(dst, ";0\r\n"...) }

// AppendStreamedHeader appends "*?\r\n" (or "%?", "~?", ">?", "|?" for the
// other aggregate types t): an aggregate of unknown length, ended by
// AppendStreamedEnd.
func AppendStreamedHeader(dst []byte, t Type) []byte {
	return append(dst, byte(t), '?', '\r', '\n')
}

// AppendStreamedEnd appends ".\r\n", which ends a streamed aggregate.
func AppendStreamedEnd(dst []byte) []byte { return append(dst, ".\r\n"...) }

// AppendValue appends v, and the values inside it, in RESP3 wire form. A map
// or attribute with an odd number of Elems is written without its last one.
// A Value of an unknown type is written as a null. A Value of type
// TypeAttribute on its own (attributes belong in another value's Attrs) is
// written as a map of its pairs: on the wire an attribute is the prefix of
// the value it annotates, and written alone it would take the next value
// as its own.
func AppendValue(dst []byte, v Value) []byte {
	if v.Attrs != nil && v.Type != TypeAttribute {
		dst = appendAggregate(dst, TypeAttribute, v.Attrs.Elems, AppendValue)
	}
	switch v.Type {
	case TypeSimpleString:
		return AppendSimpleString(dst, v.Str)
	case TypeError:
		return AppendError(dst, v.Str)
	case TypeBlobError:
		return AppendBlobError(dst, v.Str)
	case TypeInteger:
		return AppendInt(dst, v.Int)
	case TypeBulkString:
		return AppendBulkString(dst, v.Str)
	case TypeDouble:
		return AppendDouble(dst, v.Float)
	case TypeBoolean:
		return AppendBool(dst, v.Bool())
	case TypeBigNumber:
		return AppendBigNumber(dst, v.Str)
	case TypeVerbatim:
		if len(v.Str) < 4 || v.Str[3] != ':' {
			return AppendVerbatim(dst, "txt", v.Str) // not "fmt:text": see AppendVerbatim
		}
		return appendLenString(dst, '=', v.Str)
	case TypeArray, TypeSet, TypePush, TypeMap:
		return appendAggregate(dst, v.Type, v.Elems, AppendValue)
	case TypeAttribute:
		return appendAggregate(dst, TypeMap, v.Elems, AppendValue)
	}
	return AppendNull(dst)
}

// AppendValueRESP2 appends v as Redis writes it to a RESP2 client: maps and
// attributes' pairs become flat arrays, sets and pushes arrays, null the null
// bulk string, doubles and big numbers bulk strings, booleans the integers 1
// and 0, verbatim strings bulk strings of their text, bulk errors simple
// errors; attributes are dropped.
func AppendValueRESP2(dst []byte, v Value) []byte {
	switch v.Type {
	case TypeSimpleString:
		return AppendSimpleString(dst, v.Str)
	case TypeError, TypeBlobError:
		return AppendError(dst, v.Str)
	case TypeInteger:
		return AppendInt(dst, v.Int)
	case TypeBoolean:
		return AppendInt(dst, v.Int&1)
	case TypeBulkString, TypeBigNumber, TypeVerbatim:
		return AppendBulkString(dst, v.Text())
	case TypeDouble:
		return AppendBulkFloat(dst, v.Float)
	case TypeArray, TypeSet, TypePush, TypeMap, TypeAttribute:
		elems := v.Elems
		if v.Type == TypeMap || v.Type == TypeAttribute {
			elems = elems[:len(elems)&^1]
		}
		return appendAggregate(dst, TypeArray, elems, AppendValueRESP2)
	}
	return AppendNullBulk(dst)
}

func appendAggregate(dst []byte, t Type, elems []Value, enc func([]byte, Value) []byte) []byte {
	n := len(elems)
	if t == TypeMap || t == TypeAttribute {
		n /= 2
		elems = elems[:2*n]
	}
	dst = appendHeader(dst, byte(t), int64(n))
	for _, e := range elems {
		dst = enc(dst, e)
	}
	return dst
}

// appendHeader appends a type byte, a decimal number and CRLF. Lengths
// under 10,000 (nearly every one a command has) are written digit by digit:
// strconv's general path was a few percent of a client's CPU.
func appendHeader(dst []byte, t byte, n int64) []byte {
	switch {
	case n >= 0 && n < 10:
		return append(dst, t, byte('0'+n), '\r', '\n')
	case n >= 10 && n < 100:
		return append(dst, t, byte('0'+n/10), byte('0'+n%10), '\r', '\n')
	case n >= 100 && n < 1000:
		return append(dst, t, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10), '\r', '\n')
	case n >= 1000 && n < 10000:
		return append(dst, t, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10), '\r', '\n')
	}
	dst = strconv.AppendInt(append(dst, t), n, 10)
	return append(dst, '\r', '\n')
}

func appendLenString(dst []byte, t byte, s string) []byte {
	if n, i := len(s), len(dst); n < 100 && cap(dst)-i >= n+7 {
		// The common short string, written in place: no growth check per
		// byte, and no call further down (a shallow stack is a cheap one
		// for thousands of goroutines).
		if n < 10 {
			dst = dst[:i+n+6]
			dst[i], dst[i+1] = t, byte('0'+n)
			i += 2
		} else {
			dst = dst[:i+n+7]
			dst[i], dst[i+1], dst[i+2] = t, byte('0'+n/10), byte('0'+n%10)
			i += 3
		}
		dst[i], dst[i+1] = '\r', '\n'
		copy(dst[i+2:], s)
		dst[i+2+n], dst[i+3+n] = '\r', '\n'
		return dst
	}
	dst = appendHeader(dst, t, int64(len(s)))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// appendLine appends s with CR and LF replaced by spaces, then CRLF.
func appendLine(dst []byte, s string) []byte {
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 {
		dst = append(dst, s...)
		return append(dst, '\r', '\n')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\r', '\n')
}

// appendFloatText appends f as RESP3 writes doubles: "inf", "-inf" and
// "nan" for the special values, otherwise the shortest digits that round
// trip; see appendFloatDigits.
func appendFloatText(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(f):
		return append(dst, "nan"...)
	}
	return appendFloatDigits(dst, f, 64)
}

// appendFloatDigits appends a finite f (of bitSize 32 or 64) with the
// shortest digits that round trip, in plain decimal notation when
// 1e-7 <= |f| < 1e21 or f is zero ("1000000", "0.0000001", "-0"), as
// JavaScript writes numbers, and in exponent notation beyond ("1e+21",
// "1e-08"). Plain notation keeps integral values integers to Redis:
// "1e+06" is no integer to INCRBY, SETRANGE or EXPIRE, nor to a value
// that INCR later reads; every int64 is below 1e21.
func appendFloatDigits(dst []byte, f float64, bitSize int) []byte {
	if a := math.Abs(f); a == 0 || (a >= 1e-7 && a < 1e21) {
		return strconv.AppendFloat(dst, f, 'f', -1, bitSize)
	}
	return strconv.AppendFloat(dst, f, 'e', -1, bitSize)
}
