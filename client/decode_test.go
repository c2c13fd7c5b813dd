package client

import (
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
)

func TestTypedHelpers(t *testing.T) {
	srvErr := resp.ErrorValue("ERR boom").Err()
	if _, err := String(resp.Value{}, srvErr); err != srvErr {
		t.Fatalf("an error must pass through unchanged: %v", err)
	}
	strs := []struct {
		v    resp.Value
		want string
		err  error
	}{
		{resp.Bulk("x"), "x", nil},
		{resp.Bulk(""), "", nil},
		{resp.SimpleString("OK"), "OK", nil},
		{resp.Verbatim("txt", "hi"), "hi", nil},
		{resp.Int(-5), "-5", nil},
		{resp.Double(2.5), "2.5", nil},
		{resp.BigNumber("123456789012345678901234567890"), "123456789012345678901234567890", nil},
		{resp.Null(), "", ErrNil},
		{resp.Array(), "", ErrUnexpectedReply},
	}
	for _, tt := range strs {
		got, err := String(tt.v, nil)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("String(%v) = %q, %v; want %q, %v", tt.v, got, err, tt.want, tt.err)
		}
	}
	if b, err := Bytes(resp.Bulk("ab"), nil); err != nil || string(b) != "ab" {
		t.Errorf("Bytes: %q %v", b, err)
	}
	ints := []struct {
		v    resp.Value
		want int64
		err  error
	}{
		{resp.Int(7), 7, nil}, {resp.Bulk("-12"), -12, nil}, {resp.Bool(true), 1, nil},
		{resp.Bulk("x"), 0, ErrUnexpectedReply}, {resp.Null(), 0, ErrNil}, {resp.Double(1), 1, nil}, {resp.Double(1.5), 0, ErrUnexpectedReply},
	}
	for _, tt := range ints {
		got, err := Int64(tt.v, nil)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("Int64(%v) = %d, %v", tt.v, got, err)
		}
	}
	if f, err := Float64(resp.Double(math.Inf(1)), nil); err != nil || !math.IsInf(f, 1) {
		t.Errorf("Float64(inf) = %v %v", f, err)
	}
	if f, err := Float64(resp.Bulk("1.25"), nil); err != nil || f != 1.25 {
		t.Errorf("Float64(bulk) = %v %v", f, err)
	}
	if f, err := Float64(resp.Int(3), nil); err != nil || f != 3 {
		t.Errorf("Float64(int) = %v %v", f, err)
	}
	for v, want := range map[*resp.Value]bool{{Type: resp.TypeBoolean, Int: 1}: true, {Type: resp.TypeInteger}: false} {
		if got, err := Bool(*v, nil); err != nil || got != want {
			t.Errorf("Bool(%v) = %v %v", *v, got, err)
		}
	}
	if got, err := Strings(resp.Array(resp.Bulk("a"), resp.Null(), resp.Int(3)), nil); err != nil || !reflect.DeepEqual(got, []string{"a", "", "3"}) {
		t.Errorf("Strings = %q %v", got, err)
	}
	if got, err := Int64s(resp.Set(resp.Int(1), resp.Bulk("2")), nil); err != nil || !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Errorf("Int64s = %v %v", got, err)
	}
	wantMap := map[string]string{"a": "1", "b": "x"}
	for _, v := range []resp.Value{
		resp.Map(resp.Bulk("a"), resp.Int(1), resp.Bulk("b"), resp.Bulk("x")),
		resp.Array(resp.Bulk("a"), resp.Bulk("1"), resp.Bulk("b"), resp.Bulk("x")),
	} {
		if got, err := StringMap(v, nil); err != nil || !reflect.DeepEqual(got, wantMap) {
			t.Errorf("StringMap(%v) = %v %v", v, got, err)
		}
	}
	if _, err := StringMap(resp.Array(resp.Bulk("a")), nil); !errors.Is(err, ErrUnexpectedReply) {
		t.Errorf("odd StringMap: %v", err)
	}
	if _, err := Values(resp.Null(), nil); !errors.Is(err, ErrNil) {
		t.Errorf("Values(null): %v", err)
	}
}

func TestDecodeAuto(t *testing.T) {
	v := resp.Map(
		resp.Bulk("s"), resp.Bulk("x"),
		resp.Int(1), resp.Array(resp.Int(2), resp.Null(), resp.Bool(true), resp.Double(0.5)),
		resp.Bulk("set"), resp.Set(resp.SimpleString("a")),
	)
	got, err := DecodeAuto(v)
	want := map[string]any{"s": "x", "1": []any{int64(2), nil, true, 0.5}, "set": []any{"a"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeAuto = %#v, %v", got, err)
	}
	if got, _ := DecodeRaw(v); !got.(resp.Value).Equal(v) {
		t.Fatal("DecodeRaw changed the value")
	}
	if got, err := DecodeStrings(resp.Array(resp.Bulk("a"))); err != nil || !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("DecodeStrings = %v %v", got, err)
	}
}

func TestDefaultEncode(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.1") // a TextMarshaler (and BinaryMarshaler)
	b, err := DefaultEncode(nil, addr)
	bin, _ := addr.MarshalBinary()
	if err != nil || string(b) != string(resp.AppendBulk(nil, bin)) {
		t.Fatalf("BinaryMarshaler: %q %v", b, err)
	}
	b, err = DefaultEncode(nil, textOnly{s: "hi"})
	if err != nil || string(b) != "$2\r\nhi\r\n" {
		t.Fatalf("TextMarshaler: %q %v", b, err)
	}
	if _, err := DefaultEncode(nil, struct{}{}); !errors.Is(err, resp.ErrUnsupportedArg) {
		t.Fatalf("unsupported: %v", err)
	}
	if _, err := DefaultEncode(nil, textOnly{err: true}); err == nil {
		t.Fatal("a failing MarshalText must fail the encoding")
	}
}

// Named types of the basic kinds are encoded as their underlying values
// (resp.AppendArg takes only the built-in types); a marshaler still comes
// first, and time.Duration, whose nanoseconds no command takes, is refused.
func TestDefaultEncodeNamedKinds(t *testing.T) {
	type (
		userID  int64
		port    uint16
		name    string
		blob    []byte
		ratio   float64
		ratio32 float32
		flag    bool
	)
	for _, tt := range []struct {
		arg  any
		want string
	}{
		{userID(-42), "-42"}, {port(6379), "6379"}, {name("ann"), "ann"}, {blob("\x00b"), "\x00b"},
		{ratio(0.25), "0.25"}, {ratio32(0.1), "0.1"}, {flag(true), "1"}, {level(2), "warn"},
	} {
		b, err := DefaultEncode([]byte("x"), tt.arg)
		if err != nil || string(b) != "x"+string(resp.AppendBulkString(nil, tt.want)) {
			t.Errorf("DefaultEncode(%T %v) = %q, %v; want the bulk %q", tt.arg, tt.arg, b, err, tt.want)
		}
	}
	b, err := DefaultEncode([]byte("x"), 1500*time.Millisecond)
	if !errors.Is(err, resp.ErrUnsupportedArg) || !strings.Contains(err.Error(), "time.Duration") || string(b) != "x" {
		t.Fatalf("time.Duration: %q, %v; want it refused, naming the type", b, err)
	}
	// Refused rather than guessed: a String method (MessageKind: its name
	// or its number?), a marshaler on the pointer only (passed by value),
	// and what was never a kind of number or text.
	for _, arg := range []any{KindMessage, ptrText(1), uintptr(1), nil, []int{1}, map[string]int{}, (*int)(nil)} {
		if _, err := DefaultEncode(nil, arg); !errors.Is(err, resp.ErrUnsupportedArg) {
			t.Errorf("DefaultEncode(%T %#v): %v, want ErrUnsupportedArg", arg, arg, err)
		}
	}
	var p ptrText = 1
	if b, err := DefaultEncode(nil, &p); err != nil || string(b) != "$3\r\none\r\n" {
		t.Errorf("DefaultEncode(*ptrText) = %q, %v; want its MarshalText", b, err)
	}
}

// ptrText has MarshalText on its pointer only.
type ptrText int

func (p *ptrText) MarshalText() ([]byte, error) { return []byte("one"), nil }

// level is a named int with its own text form, which wins over its kind.
type level int

func (l level) MarshalText() ([]byte, error) {
	return []byte([]string{"debug", "info", "warn"}[l]), nil
}

type textOnly struct {
	s   string
	err bool
}

func (x textOnly) MarshalText() ([]byte, error) {
	if x.err {
		return nil, errors.New("cannot")
	}
	return []byte(x.s), nil
}

func TestDatabaseWithDoesNotAllocate(t *testing.T) {
	m, _ := New(Config{})
	db := m.Database(3)
	dec := DecodeString
	n := testing.AllocsPerRun(100, func() {
		d := db.With(Retries(1), Decoder(dec), Idempotent(true), Encoder(DefaultEncode))
		if d.retries != 1 || d.db != 3 {
			t.Fatal("options not applied")
		}
	})
	if n != 0 {
		t.Fatalf("With allocated %v times", n)
	}
	if db.retries != DefaultRetries || db.dec != nil || db.idempotent {
		t.Fatal("With changed the original handle")
	}
}
