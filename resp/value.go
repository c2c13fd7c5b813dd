package resp

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Type is the kind of a RESP value. Its numeric value is the type byte that
// starts the value on the wire.
type Type byte

// The RESP2 and RESP3 value types.
const (
	TypeInvalid      Type = 0   // the zero Value
	TypeSimpleString Type = '+' // RESP2 simple string
	TypeError        Type = '-' // RESP2 simple error
	TypeInteger      Type = ':' // RESP2 integer
	TypeBulkString   Type = '$' // RESP2 bulk string (also the result of a streamed string)
	TypeArray        Type = '*' // RESP2 array
	TypeNull         Type = '_' // RESP3 null; also RESP2's null bulk string and null array
	TypeDouble       Type = ',' // RESP3 double
	TypeBoolean      Type = '#' // RESP3 boolean
	TypeBlobError    Type = '!' // RESP3 bulk error
	TypeVerbatim     Type = '=' // RESP3 verbatim string
	TypeBigNumber    Type = '(' // RESP3 big number
	TypeMap          Type = '%' // RESP3 map
	TypeSet          Type = '~' // RESP3 set
	TypeAttribute    Type = '|' // RESP3 attribute (attached to the value that follows it)
	TypePush         Type = '>' // RESP3 push (out-of-band data such as pub/sub messages)
)

// String returns the name of the type, as in the RESP3 specification.
func (t Type) String() string {
	switch t {
	case TypeSimpleString:
		return "simple string"
	case TypeError:
		return "simple error"
	case TypeInteger:
		return "integer"
	case TypeBulkString:
		return "bulk string"
	case TypeArray:
		return "array"
	case TypeNull:
		return "null"
	case TypeDouble:
		return "double"
	case TypeBoolean:
		return "boolean"
	case TypeBlobError:
		return "bulk error"
	case TypeVerbatim:
		return "verbatim string"
	case TypeBigNumber:
		return "big number"
	case TypeMap:
		return "map"
	case TypeSet:
		return "set"
	case TypeAttribute:
		return "attribute"
	case TypePush:
		return "push"
	case TypeInvalid:
		return "invalid"
	}
	return "type(" + strconv.Quote(string(rune(t))) + ")"
}

// IsError reports whether values of this type are error replies (simple or
// blob errors).
func (t Type) IsError() bool { return t == TypeError || t == TypeBlobError }

// IsAggregate reports whether values of this type hold other values in Elems.
func (t Type) IsAggregate() bool {
	switch t {
	case TypeArray, TypeMap, TypeSet, TypeAttribute, TypePush:
		return true
	}
	return false
}

// Value is one decoded RESP value of any type.
//
// Which fields are meaningful depends on Type:
//
//   - SimpleString, Error, BlobError, BulkString, BigNumber: Str.
//   - Verbatim: Str holds the whole payload, "fmt:text"; see Format and Text.
//   - Integer: Int. Boolean: Int is 1 for true and 0 for false; see Bool.
//   - Double: Float.
//   - Array, Set, Push: Elems.
//   - Map, Attribute: Elems holds keys and values alternately (k0, v0, k1, v1...).
//   - Null: nothing.
//
// Attrs, when not nil, is the attribute (a Value of TypeAttribute) that the
// server sent in front of this value.
//
// A Value returned by a no-copy decoding call borrows its strings from the
// decoder's buffer; see Reader.ReadValueNoCopy and Decoder.DecodeNoCopy. Every
// other Value owns its memory and is safe to keep and share between goroutines.
type Value struct {
	Type  Type
	Str   string
	Int   int64
	Float float64
	Elems []Value
	Attrs *Value
}

// Constructors, mainly for tests and for fake servers that write replies.

// SimpleString returns a simple string value.
func SimpleString(s string) Value { return Value{Type: TypeSimpleString, Str: s} }

// ErrorValue returns a simple error value; msg is the whole line, such as
// "ERR unknown command".
func ErrorValue(msg string) Value { return Value{Type: TypeError, Str: msg} }

// Int returns an integer value.
func Int(n int64) Value { return Value{Type: TypeInteger, Int: n} }

// Bulk returns a bulk string value.
func Bulk(s string) Value { return Value{Type: TypeBulkString, Str: s} }

// Null returns the null value.
func Null() Value { return Value{Type: TypeNull} }

// Double returns a double value.
func Double(f float64) Value { return Value{Type: TypeDouble, Float: f} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	v := Value{Type: TypeBoolean}
	if b {
		v.Int = 1
	}
	return v
}

// BigNumber returns a big number value from its decimal digits (with an
// optional leading sign). A big number from a server is normally digits,
// but Redis passes a script's {big_number=...} through as it is, so a
// decoded one may hold any text without CR or LF: BigInt says whether it
// is a number.
func BigNumber(digits string) Value { return Value{Type: TypeBigNumber, Str: digits} }

// Verbatim returns a verbatim string value with a three-letter format such as
// "txt" or "mkd" (any other format is replaced by "txt": RESP3 has no room
// for it).
func Verbatim(format, text string) Value {
	if len(format) != 3 {
		format = "txt"
	}
	return Value{Type: TypeVerbatim, Str: format + ":" + text}
}

// Array returns an array value holding elems.
func Array(elems ...Value) Value { return Value{Type: TypeArray, Elems: elems} }

// Set returns a set value holding elems.
func Set(elems ...Value) Value { return Value{Type: TypeSet, Elems: elems} }

// Push returns a push value holding elems.
func Push(elems ...Value) Value { return Value{Type: TypePush, Elems: elems} }

// Map returns a map value; kv holds keys and values alternately and must have
// an even length.
func Map(kv ...Value) Value { return Value{Type: TypeMap, Elems: kv} }

// WithAttrs returns v with the attribute map kv (keys and values alternately)
// attached in front of it.
func (v Value) WithAttrs(kv ...Value) Value {
	v.Attrs = &Value{Type: TypeAttribute, Elems: kv}
	return v
}

// IsNull reports whether v is a null (RESP3 null, or a RESP2 null bulk string
// or null array).
func (v Value) IsNull() bool { return v.Type == TypeNull }

// IsError reports whether v is an error reply (simple or bulk).
func (v Value) IsError() bool { return v.Type.IsError() }

// Err returns the server error that v carries as a *Error, or nil when v is
// not an error reply.
func (v Value) Err() error {
	if !v.IsError() {
		return nil
	}
	return NewError(v.Str)
}

// Bool reports the value of a boolean (and, as RESP2 servers send booleans as
// integers, whether an integer is non-zero).
func (v Value) Bool() bool { return v.Int != 0 }

// Format returns the three-letter format of a verbatim string, or "".
func (v Value) Format() string {
	if v.Type != TypeVerbatim || len(v.Str) < 4 {
		return ""
	}
	return v.Str[:3]
}

// Text returns the text of any string-like value: the payload of simple and
// bulk strings, errors and big numbers, and the text after the format prefix
// of a verbatim string.
func (v Value) Text() string {
	if v.Type == TypeVerbatim && len(v.Str) >= 4 {
		return v.Str[4:]
	}
	return v.Str
}

// BigInt returns the value of a big number (or of an integer) as a *big.Int,
// and false when v is neither or its digits do not parse.
func (v Value) BigInt() (*big.Int, bool) {
	switch v.Type {
	case TypeInteger:
		return big.NewInt(v.Int), true
	case TypeBigNumber:
		return new(big.Int).SetString(v.Str, 10)
	}
	return nil, false
}

// Len returns the number of elements of an aggregate (for maps and attributes:
// the number of key/value pairs), and 0 for other types.
func (v Value) Len() int {
	if v.Type == TypeMap || v.Type == TypeAttribute {
		return len(v.Elems) / 2
	}
	return len(v.Elems)
}

// Equal reports whether v and w are the same value: same type, same contents,
// same attributes. Doubles compare by bit pattern, so NaN equals NaN.
func (v Value) Equal(w Value) bool {
	if v.Type != w.Type || v.Str != w.Str || v.Int != w.Int ||
		math.Float64bits(v.Float) != math.Float64bits(w.Float) || len(v.Elems) != len(w.Elems) {
		return false
	}
	if (v.Attrs == nil) != (w.Attrs == nil) || (v.Attrs != nil && !v.Attrs.Equal(*w.Attrs)) {
		return false
	}
	for i := range v.Elems {
		if !v.Elems[i].Equal(w.Elems[i]) {
			return false
		}
	}
	return true
}

// String returns a short human-readable form of v, for debugging and test
// failure messages; it is not the wire format.
func (v Value) String() string {
	var b strings.Builder
	v.describe(&b)
	return b.String()
}

func (v Value) describe(b *strings.Builder) {
	if v.Attrs != nil {
		b.WriteString("|")
		v.Attrs.describe(b)
		b.WriteString(" ")
	}
	switch v.Type {
	case TypeSimpleString:
		b.WriteString(v.Str)
	case TypeError, TypeBlobError:
		b.WriteString("(error) ")
		b.WriteString(v.Str)
	case TypeInteger:
		b.WriteString("(integer) ")
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case TypeBulkString, TypeVerbatim:
		b.WriteString(strconv.Quote(v.Str))
	case TypeBigNumber:
		b.WriteString("(big number) ")
		b.WriteString(v.Str)
	case TypeNull:
		b.WriteString("(nil)")
	case TypeDouble:
		b.WriteString("(double) ")
		b.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
	case TypeBoolean:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case TypeArray, TypeSet, TypePush, TypeMap, TypeAttribute:
		open, closing := "[", "]"
		switch v.Type {
		case TypeSet:
			open, closing = "~{", "}"
		case TypePush:
			open, closing = ">[", "]"
		case TypeMap, TypeAttribute:
			open, closing = "{", "}"
		}
		b.WriteString(open)
		for i, e := range v.Elems {
			if i > 0 {
				if (v.Type == TypeMap || v.Type == TypeAttribute) && i%2 == 1 {
					b.WriteString(": ")
				} else {
					b.WriteString(", ")
				}
			}
			e.describe(b)
		}
		b.WriteString(closing)
	default:
		b.WriteString("(invalid)")
	}
}
