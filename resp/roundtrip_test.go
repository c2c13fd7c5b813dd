package resp

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"testing/iotest"
)

// randValue generates a random value of any type, nested up to depth levels.
// Simple strings and errors get no CR or LF, which their wire form cannot
// carry.
func randValue(r *rand.Rand, depth int) Value {
	kinds := []Type{TypeSimpleString, TypeError, TypeInteger, TypeBulkString, TypeNull, TypeDouble,
		TypeBoolean, TypeBlobError, TypeVerbatim, TypeBigNumber}
	if depth > 0 {
		kinds = append(kinds, TypeArray, TypeMap, TypeSet, TypePush, TypeArray, TypeMap)
	}
	var v Value
	switch t := kinds[r.IntN(len(kinds))]; t {
	case TypeSimpleString, TypeError:
		v = Value{Type: t, Str: randLine(r)}
	case TypeInteger:
		v = Int(int64(r.Uint64()))
	case TypeBulkString, TypeBlobError:
		v = Value{Type: t, Str: randBytes(r)}
	case TypeNull:
		v = Null()
	case TypeDouble:
		switch r.IntN(5) {
		case 0:
			v = Double(math.Inf(1 - 2*r.IntN(2)))
		case 1:
			v = Double(math.NaN())
		default:
			v = Double(math.Float64frombits(r.Uint64()))
			if math.IsNaN(v.Float) {
				v.Float = math.NaN() // the wire carries one NaN
			}
		}
	case TypeBoolean:
		v = Bool(r.IntN(2) == 1)
	case TypeVerbatim:
		v = Verbatim([]string{"txt", "mkd"}[r.IntN(2)], randBytes(r))
	case TypeBigNumber:
		v = BigNumber(strconv.FormatInt(r.Int64(), 10) + strconv.FormatUint(r.Uint64(), 10))
	case TypeArray, TypeSet, TypePush, TypeMap:
		n := r.IntN(6)
		if t == TypeMap {
			n *= 2
		}
		v = Value{Type: t, Elems: make([]Value, n)}
		for i := range v.Elems {
			v.Elems[i] = randValue(r, depth-1)
		}
	}
	if depth > 0 && r.IntN(8) == 0 {
		kv := make([]Value, 2*r.IntN(3))
		for i := range kv {
			kv[i] = randValue(r, depth-1)
		}
		v = v.WithAttrs(kv...)
	}
	return v
}

func randBytes(r *rand.Rand) string {
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

func randLine(r *rand.Rand) string {
	b := []byte(randBytes(r))
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// TestRoundTrip: encode → decode gives back the same value, through the
// Decoder and through a Reader fed in one-byte and odd-sized reads.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var d Decoder
	var values []Value
	var stream []byte
	for i := 0; i < 3000; i++ {
		v := randValue(r, 4)
		wire := AppendValue(nil, v)
		got, n, err := d.Decode(wire)
		if err != nil || n != len(wire) || !got.Equal(v) {
			t.Fatalf("round trip of %v (%q): got %v, n=%d/%d, err=%v", v, wire, got, n, len(wire), err)
		}
		values = append(values, v)
		stream = append(stream, wire...)
	}
	for _, rd := range []io.Reader{
		iotest.OneByteReader(bytes.NewReader(stream)),
		iotest.HalfReader(bytes.NewReader(stream)),
	} {
		rr := NewReaderSize(rd, 64, Limits{})
		for i, want := range values {
			got, err := rr.ReadValueNoCopy()
			if err != nil || !got.Equal(want) {
				t.Fatalf("value %d from the stream: got %v, %v; want %v", i, got, err, want)
			}
		}
	}
}

// TestRoundTripRESP2: the RESP2 form of any value decodes to a value whose
// RESP2 form is the same bytes (RESP2 loses types, so compare encodings).
func TestRoundTripRESP2(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var d Decoder
	for i := 0; i < 3000; i++ {
		v := randValue(r, 4)
		wire := AppendValueRESP2(nil, v)
		got, n, err := d.Decode(wire)
		if err != nil || n != len(wire) {
			t.Fatalf("decode %q: n=%d err=%v", wire, n, err)
		}
		if again := AppendValueRESP2(nil, got); !bytes.Equal(again, wire) {
			t.Fatalf("RESP2 round trip of %v: %q then %q", v, wire, again)
		}
	}
}

// TestEncoderNeverWritesWhatDecodersReject: values the RESP3 grammar
// cannot carry as they are (a verbatim format that is not three bytes, a
// big number with a CR or LF) are written in a form the decoder takes: it
// used to write "=2\r\n:x\r\n" for Verbatim("", "x"). A big number that
// is not digits goes out as it is, as Redis sends one, and decoders take
// it.
func TestEncoderNeverWritesWhatDecodersReject(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want Value
	}{
		{Verbatim("", "x"), Verbatim("txt", "x")},
		{Verbatim("ab", ""), Verbatim("txt", "")},
		{Verbatim("mkd", "# hi"), Verbatim("mkd", "# hi")},
		{Value{Type: TypeVerbatim, Str: "no format"}, Verbatim("txt", "no format")},
		{BigNumber(""), BigNumber("")},
		{BigNumber("1\r\n2"), Bulk("1\r\n2")},
		{BigNumber("1\n2"), Bulk("1\n2")},
		{BigNumber("-"), BigNumber("-")},
		{BigNumber("-123456789012345678901234567890"), BigNumber("-123456789012345678901234567890")},
	} {
		wire := AppendValue(nil, tc.v)
		got, n, err := (&Decoder{}).Decode(wire)
		if err != nil || n != len(wire) || !got.Equal(tc.want) {
			t.Errorf("%#v encodes as %q, which decodes to %v, %d, %v; want %v", tc.v, wire, got, n, err, tc.want)
		}
	}
	if got := string(AppendVerbatim(nil, "x", "y")); got != "=5\r\ntxt:y\r\n" {
		t.Errorf("AppendVerbatim with a 1-byte format: %q", got)
	}
}

// An attribute Value on its own is written as a map of its pairs: written
// as an attribute ("|1 ..."), it took the next value on the wire as the one
// it annotates, and an array holding it lost an element (and the reply
// after it was swallowed).
func TestBareAttributeIsWrittenAsAMap(t *testing.T) {
	attr := Value{Type: TypeAttribute, Elems: []Value{SimpleString("a"), SimpleString("b")}}
	wire := AppendValue(nil, Array(attr, Int(1)))
	wire = AppendSimpleString(wire, "NEXT")
	var d Decoder
	v, n, err := d.Decode(wire)
	if err != nil || !v.Equal(Array(Map(SimpleString("a"), SimpleString("b")), Int(1))) {
		t.Fatalf("AppendValue wrote %q; it decodes to %v, %d, %v; want [{a: b} 1]", wire, v, n, err)
	}
	next, _, err := d.Decode(wire[n:])
	if err != nil || next.Str != "NEXT" {
		t.Fatalf("the value after it: %v, %v; want NEXT", next, err)
	}
}
