package client

import (
	"fmt"
	"strconv"

	"github.com/justredis/justredis/resp"
)

// DecodeFunc turns a reply into a Go value; see Decoder, Call and
// Future.Result. It is never given an error reply (those are errors).
type DecodeFunc func(resp.Value) (any, error)

// Decoders for Decoder(...). Each returns its documented Go type inside the
// any, or an error matching ErrNil for a null reply (except DecodeRaw and
// DecodeAuto) and ErrUnexpectedReply for a reply of the wrong type.
var (
	// DecodeRaw returns the resp.Value itself.
	DecodeRaw DecodeFunc = func(v resp.Value) (any, error) { return v, nil }
	// DecodeAuto maps each type to its natural Go type: strings (simple,
	// bulk, verbatim text, big number text) to string, integers to
	// int64, doubles to float64, booleans to bool, null to nil, arrays,
	// sets and pushes to []any, maps to map[string]any (keys by their
	// text), recursively.
	DecodeAuto DecodeFunc = decodeAuto
	// DecodeString returns a string.
	DecodeString DecodeFunc = func(v resp.Value) (any, error) { return String(v, nil) }
	// DecodeBytes returns a []byte (a fresh copy).
	DecodeBytes DecodeFunc = func(v resp.Value) (any, error) { return Bytes(v, nil) }
	// DecodeInt64 returns an int64.
	DecodeInt64 DecodeFunc = func(v resp.Value) (any, error) { return Int64(v, nil) }
	// DecodeFloat64 returns a float64.
	DecodeFloat64 DecodeFunc = func(v resp.Value) (any, error) { return Float64(v, nil) }
	// DecodeBool returns a bool.
	DecodeBool DecodeFunc = func(v resp.Value) (any, error) { return Bool(v, nil) }
	// DecodeStrings returns a []string.
	DecodeStrings DecodeFunc = func(v resp.Value) (any, error) { return Strings(v, nil) }
	// DecodeStringMap returns a map[string]string.
	DecodeStringMap DecodeFunc = func(v resp.Value) (any, error) { return StringMap(v, nil) }
)

func decodeAuto(v resp.Value) (any, error) {
	switch v.Type {
	case resp.TypeNull:
		return nil, nil
	case resp.TypeSimpleString, resp.TypeBulkString, resp.TypeVerbatim, resp.TypeBigNumber:
		return v.Text(), nil
	case resp.TypeInteger:
		return v.Int, nil
	case resp.TypeDouble:
		return v.Float, nil
	case resp.TypeBoolean:
		return v.Bool(), nil
	case resp.TypeArray, resp.TypeSet, resp.TypePush:
		out := make([]any, len(v.Elems))
		for i, e := range v.Elems {
			d, err := decodeAuto(e)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case resp.TypeMap:
		out := make(map[string]any, len(v.Elems)/2)
		for i := 0; i+1 < len(v.Elems); i += 2 {
			d, err := decodeAuto(v.Elems[i+1])
			if err != nil {
				return nil, err
			}
			out[keyText(v.Elems[i])] = d
		}
		return out, nil
	case resp.TypeError, resp.TypeBlobError:
		return nil, v.Err()
	}
	return nil, unexpected(v, "a value")
}

// keyText is the text of a map key of any scalar type.
func keyText(k resp.Value) string {
	switch k.Type {
	case resp.TypeInteger:
		return strconv.FormatInt(k.Int, 10)
	case resp.TypeDouble:
		return strconv.FormatFloat(k.Float, 'g', -1, 64)
	case resp.TypeBoolean:
		return strconv.FormatBool(k.Bool())
	}
	return k.Text()
}

func unexpected(v resp.Value, want string) error {
	return fmt.Errorf("%w: want %s, got %s", ErrUnexpectedReply, want, v.Type)
}

// Typed helpers. Each takes a reply and an error, so that it can wrap a call
// directly: client.String(db.Do(ctx, "GET", "k")). An error passes through
// unchanged; a null reply gives ErrNil, so that a missing key is told apart
// from an empty string.

// String returns a string reply (simple, bulk, verbatim text, or the
// decimal text of an integer or double, or the text of a big number).
func String(v resp.Value, err error) (string, error) {
	if err != nil {
		return "", err
	}
	switch v.Type {
	case resp.TypeSimpleString, resp.TypeBulkString, resp.TypeVerbatim, resp.TypeBigNumber:
		return v.Text(), nil
	case resp.TypeInteger:
		return strconv.FormatInt(v.Int, 10), nil
	case resp.TypeDouble:
		return strconv.FormatFloat(v.Float, 'g', -1, 64), nil
	case resp.TypeNull:
		return "", ErrNil
	}
	return "", unexpected(v, "a string")
}

// Bytes is String as a fresh []byte.
func Bytes(v resp.Value, err error) ([]byte, error) {
	s, err := String(v, err)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Int64 returns an integer reply, or a string reply that holds a decimal
// integer (as GET of a counter does).
func Int64(v resp.Value, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	switch v.Type {
	case resp.TypeInteger, resp.TypeBoolean:
		return v.Int, nil
	case resp.TypeSimpleString, resp.TypeBulkString:
		n, perr := strconv.ParseInt(v.Str, 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("%w: %q is not an integer", ErrUnexpectedReply, v.Str)
		}
		return n, nil
	case resp.TypeNull:
		return 0, ErrNil
	}
	return 0, unexpected(v, "an integer")
}

// Float64 returns a double reply, or an integer, or a string holding a
// number (as ZSCORE does on RESP2).
func Float64(v resp.Value, err error) (float64, error) {
	if err != nil {
		return 0, err
	}
	switch v.Type {
	case resp.TypeDouble:
		return v.Float, nil
	case resp.TypeInteger:
		return float64(v.Int), nil
	case resp.TypeSimpleString, resp.TypeBulkString:
		f, perr := resp.ParseDouble(v.Str) // as Redis writes doubles: "-nan" too
		if perr != nil {
			return 0, fmt.Errorf("%w: %q is not a number", ErrUnexpectedReply, v.Str)
		}
		return f, nil
	case resp.TypeNull:
		return 0, ErrNil
	}
	return 0, unexpected(v, "a number")
}

// Bool returns a boolean reply, or an integer as non-zero (RESP2 sends
// booleans as 1 and 0), or true for the simple string OK.
func Bool(v resp.Value, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	switch v.Type {
	case resp.TypeBoolean, resp.TypeInteger:
		return v.Int != 0, nil
	case resp.TypeSimpleString:
		return v.Str == "OK", nil
	case resp.TypeNull:
		return false, ErrNil
	}
	return false, unexpected(v, "a boolean")
}

// Values returns the elements of an aggregate reply (array, set, push, or a
// map's keys and values alternately).
func Values(v resp.Value, err error) ([]resp.Value, error) {
	if err != nil {
		return nil, err
	}
	if v.Type == resp.TypeNull {
		return nil, ErrNil
	}
	if !v.Type.IsAggregate() {
		return nil, unexpected(v, "an aggregate")
	}
	return v.Elems, nil
}

// Strings returns the elements of an aggregate reply as strings; a null
// element (MGET of a missing key) becomes "". Use Values to tell them apart.
func Strings(v resp.Value, err error) ([]string, error) {
	elems, err := Values(v, err)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if e.Type == resp.TypeNull {
			continue
		}
		if out[i], err = String(e, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Int64s returns the elements of an aggregate reply as integers.
func Int64s(v resp.Value, err error) ([]int64, error) {
	elems, err := Values(v, err)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(elems))
	for i, e := range elems {
		if out[i], err = Int64(e, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StringMap returns a map reply (or a RESP2 flat array of keys and values,
// as HGETALL sends) as a map of strings.
func StringMap(v resp.Value, err error) (map[string]string, error) {
	elems, err := Values(v, err)
	if err != nil {
		return nil, err
	}
	if len(elems)%2 != 0 {
		return nil, fmt.Errorf("%w: %d elements is not a list of pairs", ErrUnexpectedReply, len(elems))
	}
	out := make(map[string]string, len(elems)/2)
	for i := 0; i < len(elems); i += 2 {
		val, err := String(elems[i+1], nil)
		if err != nil && err != ErrNil {
			return nil, err
		}
		out[keyText(elems[i])] = val
	}
	return out, nil
}
