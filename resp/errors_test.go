package resp

import (
	"errors"
	"fmt"
	"testing"
)

func TestServerError(t *testing.T) {
	tests := []struct {
		msg    string
		prefix string
		slot   int
		addr   string
	}{
		{"ERR unknown command 'FOO'", "ERR", -1, ""},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", "WRONGTYPE", -1, ""},
		{"MOVED 3999 127.0.0.1:6381", "MOVED", 3999, "127.0.0.1:6381"},
		{"ASK 0 10.0.0.1:7000", "ASK", 0, "10.0.0.1:7000"},
		{"MOVED 16383 :6381", "MOVED", 16383, ":6381"},
		{"MOVED 16384 127.0.0.1:6381", "MOVED", -1, ""}, // no such slot
		{"MOVED x 127.0.0.1:6381", "MOVED", -1, ""},
		{"NOSCRIPT No matching script. Please use EVAL.", "NOSCRIPT", -1, ""},
		{"LOADING Redis is loading the dataset in memory", "LOADING", -1, ""},
		{"CLUSTERDOWN The cluster is down", "CLUSTERDOWN", -1, ""},
		{"lowercase message", "", -1, ""},
		{"", "", -1, ""},
	}
	for _, tt := range tests {
		err := ErrorValue(tt.msg).Err()
		var e *Error
		if !errors.As(fmt.Errorf("wrapped: %w", err), &e) {
			t.Fatalf("%q: not an *Error", tt.msg)
		}
		if e.Msg != tt.msg || e.Error() != tt.msg || e.Prefix != tt.prefix || e.Slot != tt.slot || e.Addr != tt.addr {
			t.Errorf("%q: got %+v", tt.msg, *e)
		}
		if got := ErrorPrefix(fmt.Errorf("x: %w", err)); got != tt.prefix {
			t.Errorf("ErrorPrefix(%q) = %q", tt.msg, got)
		}
		if e.IsRedirect() != (tt.slot >= 0) {
			t.Errorf("%q: IsRedirect = %v", tt.msg, e.IsRedirect())
		}
	}
	if Int(1).Err() != nil || Bulk("ERR x").Err() != nil {
		t.Fatal("a non-error value returned an error")
	}
	if e := (Value{Type: TypeBlobError, Str: "SYNTAX bad"}).Err(); ErrorPrefix(e) != "SYNTAX" {
		t.Fatalf("blob error: %v", e)
	}
}

func TestAppendCommand(t *testing.T) {
	type text string
	tests := []struct {
		args []any
		want string
	}{
		{[]any{"SET", "k", "v"}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"},
		{[]any{"SET", []byte("k"), []byte{}}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"},
		{[]any{"X", 1, int8(-2), int16(3), int32(-4), int64(5)}, "*6\r\n$1\r\nX\r\n$1\r\n1\r\n$2\r\n-2\r\n$1\r\n3\r\n$2\r\n-4\r\n$1\r\n5\r\n"},
		{[]any{"X", uint(1), uint8(2), uint16(3), uint32(4), uint64(18446744073709551615)},
			"*6\r\n$1\r\nX\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$20\r\n18446744073709551615\r\n"},
		{[]any{"X", 1.5, float32(0.1), true, false}, "*5\r\n$1\r\nX\r\n$3\r\n1.5\r\n$3\r\n0.1\r\n$1\r\n1\r\n$1\r\n0\r\n"},
		{[]any{"ZADD", "z", -1.0 / zero(), "m"}, "*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$4\r\n-inf\r\n$1\r\nm\r\n"},
		{[]any{"PING"}, "*1\r\n$4\r\nPING\r\n"},
		{nil, "*0\r\n"},
	}
	for _, tt := range tests {
		got, err := AppendCommand([]byte("prefix"), tt.args...)
		if err != nil || string(got) != "prefix"+tt.want {
			t.Errorf("AppendCommand(%v) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}
	got, err := AppendCommand([]byte("prefix"), "SET", "k", text("v"))
	var ae *ArgError
	if !errors.Is(err, ErrUnsupportedArg) || !errors.As(err, &ae) || ae.Index != 2 || string(got) != "prefix" {
		t.Fatalf("unsupported argument: %q, %v", got, err)
	}
	if got := string(AppendCommandStrings(nil, "GET", "k")); got != "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" {
		t.Fatalf("AppendCommandStrings = %q", got)
	}
}

func zero() float64 { return 0 }

func TestAppendLineSanitizes(t *testing.T) {
	if got := string(AppendError(nil, "ERR a\r\nb")); got != "-ERR a  b\r\n" {
		t.Fatalf("AppendError = %q", got)
	}
	if got := string(AppendSimpleString(nil, "x\ny")); got != "+x y\r\n" {
		t.Fatalf("AppendSimpleString = %q", got)
	}
}

func TestStreamedEncoders(t *testing.T) {
	b := AppendStreamedStringHeader(nil)
	b = AppendStreamedChunk(b, "ab")
	b = AppendStreamedChunk(b, "")
	b = AppendStreamedChunk(b, "c")
	b = AppendStreamedStringEnd(b)
	b = AppendStreamedHeader(b, TypeMap)
	b = AppendBulkString(b, "k")
	b = AppendInt(b, 1)
	b = AppendStreamedEnd(b)
	var d Decoder
	v, n, err := d.Decode(b)
	if err != nil || !v.Equal(Bulk("abc")) {
		t.Fatalf("streamed string: %v %v", v, err)
	}
	v, _, err = d.Decode(b[n:])
	if err != nil || !v.Equal(Map(Bulk("k"), Int(1))) {
		t.Fatalf("streamed map: %v %v", v, err)
	}
}

func TestValueHelpers(t *testing.T) {
	if v := Verbatim("txt", "hello"); v.Format() != "txt" || v.Text() != "hello" {
		t.Errorf("verbatim: %q %q", v.Format(), v.Text())
	}
	if n, ok := BigNumber("-123456789012345678901234567890").BigInt(); !ok || n.String() != "-123456789012345678901234567890" {
		t.Errorf("BigInt: %v %v", n, ok)
	}
	if _, ok := Bulk("1").BigInt(); ok {
		t.Error("BigInt of a bulk string")
	}
	if m := Map(Int(1), Int(2), Int(3), Int(4)); m.Len() != 2 {
		t.Errorf("map Len = %d", m.Len())
	}
	if !Null().IsNull() || Bulk("").IsNull() {
		t.Error("IsNull")
	}
	got := Map(Bulk("a"), Array(Int(1), Null(), Bool(true), Double(1.5)).WithAttrs(SimpleString("x"), Int(1))).String()
	want := `{"a": |{x: (integer) 1} [(integer) 1, (nil), true, (double) 1.5]}`
	if got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	for _, ty := range []Type{TypeSimpleString, TypeError, TypeInteger, TypeBulkString, TypeArray, TypeNull,
		TypeDouble, TypeBoolean, TypeBlobError, TypeVerbatim, TypeBigNumber, TypeMap, TypeSet, TypeAttribute, TypePush, TypeInvalid, Type('Z')} {
		if ty.String() == "" {
			t.Errorf("Type(%d).String() is empty", ty)
		}
	}
}
