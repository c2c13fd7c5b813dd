package client

import (
	"errors"
	"fmt"
	"math"
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
		return formatDouble(k.Float)
	case resp.TypeBoolean:
		return strconv.FormatBool(k.Bool())
	}
	return k.Text()
}

// formatDouble writes f as Redis writes a double in a RESP2 reply (a bulk
// string): "inf", "-inf" and "nan" for the special values, otherwise the
// shortest digits that round trip, in the notation of C's "%.17g" (plain
// for 1e-4 <= |f| < 1e17: "1.5", "1000000", "0.0001"; exponent notation
// beyond: "1e+17", "1e-05"). Redis 7.0 writes 17 significant digits, which
// differ where fewer round trip ("0.10000000000000001" for 0.1); later
// versions write the shortest digits, as here (not checked here: our
// machines have 7.0).
func formatDouble(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	// The shortest digits of f are below 1e17 exactly when f is (1e17 is
	// a float64), and at least 1e-4 exactly when f is at least the
	// float64 nearest to it.
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e17) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'e', -1, 64)
}

func unexpected(v resp.Value, want string) error {
	return fmt.Errorf("%w: want %s, got %s", ErrUnexpectedReply, want, v.Type)
}

// Typed helpers. Each takes a reply and an error, so that it can wrap a call
// directly: client.String(db.Do(ctx, "GET", "k")). An error passes through
// unchanged; a null reply gives ErrNil, so that a missing key is told apart
// from an empty string; a reply of a type the helper does not take gives an
// error matching ErrUnexpectedReply.
//
// The helpers give the same result for a reply whether it came over RESP2
// or RESP3 (the default protocol), where Redis sends types RESP2 does not
// have: a RESP3 double is written as RESP2 writes it ("inf", "1.5"), a
// boolean as RESP2's integer 1 or 0, and the list and map helpers take
// RESP3's array of pairs (ZRANGE ... WITHSCORES, HRANDFIELD ... WITHVALUES,
// ZPOPMIN with a count) as RESP2's flat list.

// String returns a string reply (simple, bulk, verbatim text, or the text
// of a big number), or the text RESP2 would send for a number: the decimal
// text of an integer, "1" or "0" for a boolean, and a double as Redis writes
// it: "inf", "-inf", "nan", otherwise the shortest digits that round trip,
// in plain notation for 1e-4 <= |f| < 1e17 ("1.5", "1000000") and exponent
// notation beyond ("1e+20"). (Redis 7.0 itself writes 17 significant
// digits in RESP2, "0.10000000000000001" for 0.1; later versions write the
// shortest, as String does.)
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
		return formatDouble(v.Float), nil
	case resp.TypeBoolean:
		if v.Int != 0 {
			return "1", nil
		}
		return "0", nil
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

// Int64 returns an integer reply, a boolean as 1 or 0, a double that is an
// integer within int64's range (ZINCRBY's reply on RESP3), a big number
// within int64's range, or a string (simple, bulk or verbatim) that holds
// a decimal integer (as GET of a counter does, or ZINCRBY on RESP2: "2").
// A fraction, a value beyond int64's range, infinity, NaN or other text
// ("3.0", "1e+17") is an error matching ErrUnexpectedReply.
func Int64(v resp.Value, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	switch v.Type {
	case resp.TypeInteger, resp.TypeBoolean:
		return v.Int, nil
	case resp.TypeDouble:
		return doubleInt64(v.Float)
	case resp.TypeBigNumber:
		n, perr := strconv.ParseInt(v.Str, 10, 64)
		if errors.Is(perr, strconv.ErrRange) {
			return 0, fmt.Errorf("%w: big number %s is beyond int64's range", ErrUnexpectedReply, v.Str)
		} else if perr != nil {
			return 0, fmt.Errorf("%w: big number %q is not an integer", ErrUnexpectedReply, v.Str)
		}
		return n, nil
	case resp.TypeSimpleString, resp.TypeBulkString, resp.TypeVerbatim:
		text := v.Text()
		n, perr := strconv.ParseInt(text, 10, 64)
		switch {
		case perr == nil:
			return n, nil
		case errors.Is(perr, strconv.ErrRange):
			return 0, fmt.Errorf("%w: %q is beyond int64's range", ErrUnexpectedReply, text)
		}
		// Not "3.0" or "1e3": text is parsed as an integer, strictly
		// (the same text would make INCR fail). So a RESP2 score of
		// 1e17 or more, which Redis writes "1e+17", is an error here
		// where RESP3's double is not: use Float64 for scores.
		return 0, fmt.Errorf("%w: %q is not an integer", ErrUnexpectedReply, text)
	case resp.TypeNull:
		return 0, ErrNil
	}
	return 0, unexpected(v, "an integer")
}

// doubleInt64 is f, a RESP3 double, as an int64 if it is integral and
// within range.
func doubleInt64(f float64) (int64, error) {
	// -2^63 and 2^63 are float64s exactly; 2^63 itself is out of range.
	if f >= -(1<<63) && f < 1<<63 && f == math.Trunc(f) {
		return int64(f), nil
	}
	text := formatDouble(f)
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		return 0, fmt.Errorf("%w: double %s is not an integer", ErrUnexpectedReply, text)
	}
	return 0, fmt.Errorf("%w: double %s is beyond int64's range", ErrUnexpectedReply, text)
}

// Float64 returns a double reply, an integer, a boolean as 1 or 0, or the
// number in a string (simple, bulk or verbatim: as ZSCORE replies on RESP2,
// "inf" and "nan" too) or a big number (rounded to the nearest float64).
func Float64(v resp.Value, err error) (float64, error) {
	if err != nil {
		return 0, err
	}
	switch v.Type {
	case resp.TypeDouble:
		return v.Float, nil
	case resp.TypeInteger, resp.TypeBoolean:
		return float64(v.Int), nil
	case resp.TypeSimpleString, resp.TypeBulkString, resp.TypeVerbatim, resp.TypeBigNumber:
		text := v.Text()
		f, perr := resp.ParseDouble(text) // as Redis writes doubles: "-nan" too
		if perr != nil {
			return 0, fmt.Errorf("%w: %q is not a number", ErrUnexpectedReply, text)
		}
		return f, nil
	case resp.TypeNull:
		return 0, ErrNil
	}
	return 0, unexpected(v, "a number")
}

// Bool returns a boolean reply, or an integer as non-zero (RESP2 sends
// booleans as 1 and 0), or true for the simple string OK (the reply of SET
// and the like). Any other simple string (PONG, QUEUED) or a bulk string is
// an error matching ErrUnexpectedReply; a null reply (SET ... NX that did
// not set, or a Lua false on RESP2) is ErrNil.
func Bool(v resp.Value, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	switch v.Type {
	case resp.TypeBoolean, resp.TypeInteger:
		return v.Int != 0, nil
	case resp.TypeSimpleString:
		if v.Str == "OK" {
			return true, nil
		}
		return false, fmt.Errorf("%w: want a boolean or OK, got the simple string %q", ErrUnexpectedReply, v.Str)
	case resp.TypeNull:
		return false, ErrNil
	}
	return false, unexpected(v, "a boolean")
}

// Values returns the elements of an aggregate reply (array, set, push, or a
// map's keys and values alternately), as the server sent them: unlike the
// list helpers below, it does not flatten RESP3's arrays of pairs.
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

// listElems is Values for the list and map helpers: an array whose every
// element is an array of two (RESP3's form of ZRANGE ... WITHSCORES,
// HRANDFIELD ... WITHVALUES, ZPOPMIN with a count) is flattened one level,
// into RESP2's form of the same reply: a, 1, b, 2 for [[a, 1], [b, 2]].
func listElems(v resp.Value, err error) ([]resp.Value, error) {
	elems, err := Values(v, err)
	if err != nil || v.Type != resp.TypeArray || len(elems) == 0 {
		return elems, err
	}
	for _, e := range elems {
		if e.Type != resp.TypeArray || len(e.Elems) != 2 {
			return elems, nil
		}
	}
	flat := make([]resp.Value, 0, 2*len(elems))
	for _, e := range elems {
		flat = append(flat, e.Elems...)
	}
	return flat, nil
}

// Strings returns the elements of an aggregate reply as strings, each as
// String gives it; a null element (MGET of a missing key) becomes "". Use
// Values to tell them apart. A map gives its keys and values alternately,
// and an array of pairs (RESP3's ZRANGE ... WITHSCORES) is flattened, as
// RESP2 sends it: member, score, member, score.
func Strings(v resp.Value, err error) ([]string, error) {
	elems, err := listElems(v, err)
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

// Int64s returns the elements of an aggregate reply as integers, each as
// Int64 gives it. A map gives its keys and values alternately, and an
// array of pairs is flattened, as Strings does.
func Int64s(v resp.Value, err error) ([]int64, error) {
	elems, err := listElems(v, err)
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

// StringMap returns a map of strings from a RESP3 map reply (HGETALL), a
// RESP2 flat array of keys and values alternately (HGETALL on RESP2,
// ZRANGE ... WITHSCORES), or RESP3's array of key-value pairs (ZRANGE ...
// WITHSCORES, HRANDFIELD ... WITHVALUES); a set or push is taken as a flat
// list. Keys and values are as String gives them (a score "1.5" or "inf");
// a null value becomes "". An odd number of elements, or a key or value
// that is not a scalar, is an error matching ErrUnexpectedReply. A key
// that repeats keeps its last value.
func StringMap(v resp.Value, err error) (map[string]string, error) {
	elems, err := listElems(v, err)
	if err != nil {
		return nil, err
	}
	if len(elems)%2 != 0 {
		return nil, fmt.Errorf("%w: %d elements is not a list of pairs", ErrUnexpectedReply, len(elems))
	}
	out := make(map[string]string, len(elems)/2)
	for i := 0; i < len(elems); i += 2 {
		key, err := String(elems[i], nil)
		if err != nil && !errors.Is(err, ErrNil) {
			return nil, fmt.Errorf("map key: %w", err)
		}
		val, err := String(elems[i+1], nil)
		if err != nil && !errors.Is(err, ErrNil) {
			return nil, fmt.Errorf("map value: %w", err)
		}
		out[key] = val
	}
	return out, nil
}
