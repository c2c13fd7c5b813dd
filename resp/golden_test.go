package resp

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// golden is one wire form and the value it decodes to. resp3 is the
// canonical RESP3 encoding of want (what AppendValue writes) when it differs
// from wire; resp2 is what AppendValueRESP2 writes.
type golden struct {
	name  string
	wire  string
	want  Value
	resp3 string // "" means the same as wire
	resp2 string // "" means the same as wire
}

var goldens = []golden{
	// RESP2 types.
	{name: "simple string", wire: "+OK\r\n", want: SimpleString("OK")},
	{name: "simple string other", wire: "+hello world\r\n", want: SimpleString("hello world")},
	{name: "empty simple string", wire: "+\r\n", want: SimpleString("")},
	{name: "simple error", wire: "-ERR unknown command 'FOO'\r\n", want: ErrorValue("ERR unknown command 'FOO'")},
	{name: "integer", wire: ":1\r\n", want: Int(1)},
	{name: "integer zero", wire: ":0\r\n", want: Int(0)},
	{name: "negative integer", wire: ":-42\r\n", want: Int(-42)},
	{name: "plus integer", wire: ":+7\r\n", want: Int(7), resp3: ":7\r\n", resp2: ":7\r\n"},
	{name: "max integer", wire: ":9223372036854775807\r\n", want: Int(math.MaxInt64)},
	{name: "min integer", wire: ":-9223372036854775808\r\n", want: Int(math.MinInt64)},
	{name: "bulk string", wire: "$5\r\nhello\r\n", want: Bulk("hello")},
	{name: "empty bulk string", wire: "$0\r\n\r\n", want: Bulk("")},
	{name: "binary bulk string", wire: "$4\r\n\r\n\x00\xff\r\n", want: Bulk("\r\n\x00\xff")},
	{name: "resp2 null bulk", wire: "$-1\r\n", want: Null(), resp3: "_\r\n"},
	{name: "resp2 null array", wire: "*-1\r\n", want: Null(), resp3: "_\r\n", resp2: "$-1\r\n"},
	{name: "array", wire: "*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n", want: Array(Int(1), Bulk("foo"), SimpleString("bar"))},
	{name: "empty array", wire: "*0\r\n", want: Array()},
	{name: "nested array", wire: "*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n-ERR x\r\n",
		want: Array(Array(Int(1), Int(2)), Array(ErrorValue("ERR x")))},
	{name: "array with nulls", wire: "*3\r\n$-1\r\n*-1\r\n$1\r\na\r\n", want: Array(Null(), Null(), Bulk("a")),
		resp3: "*3\r\n_\r\n_\r\n$1\r\na\r\n", resp2: "*3\r\n$-1\r\n$-1\r\n$1\r\na\r\n"},

	// RESP3 types.
	{name: "null", wire: "_\r\n", want: Null(), resp2: "$-1\r\n"},
	{name: "double", wire: ",3.14\r\n", want: Double(3.14), resp2: "$4\r\n3.14\r\n"},
	{name: "double integer", wire: ",10\r\n", want: Double(10), resp2: "$2\r\n10\r\n"},
	{name: "double exponent", wire: ",1.5e+300\r\n", want: Double(1.5e300), resp2: "$8\r\n1.5e+300\r\n"},
	{name: "double inf", wire: ",inf\r\n", want: Double(math.Inf(1)), resp2: "$3\r\ninf\r\n"},
	{name: "double -inf", wire: ",-inf\r\n", want: Double(math.Inf(-1)), resp2: "$4\r\n-inf\r\n"},
	{name: "double nan", wire: ",nan\r\n", want: Double(math.NaN()), resp2: "$3\r\nnan\r\n"},
	// What Redis 7.0 writes for a Lua script's {double=0/0} on x86 (the C
	// library's "%.17g" of a negative NaN), and beyond float64's range.
	{name: "double -nan", wire: ",-nan\r\n", want: Double(math.NaN()), resp3: ",nan\r\n", resp2: "$3\r\nnan\r\n"},
	{name: "double NaN", wire: ",NaN\r\n", want: Double(math.NaN()), resp3: ",nan\r\n", resp2: "$3\r\nnan\r\n"},
	{name: "double out of range", wire: ",1e400\r\n", want: Double(math.Inf(1)), resp3: ",inf\r\n", resp2: "$3\r\ninf\r\n"},
	{name: "boolean true", wire: "#t\r\n", want: Bool(true), resp2: ":1\r\n"},
	{name: "boolean false", wire: "#f\r\n", want: Bool(false), resp2: ":0\r\n"},
	{name: "blob error", wire: "!21\r\nSYNTAX invalid syntax\r\n", want: Value{Type: TypeBlobError, Str: "SYNTAX invalid syntax"},
		resp2: "-SYNTAX invalid syntax\r\n"},
	{name: "verbatim", wire: "=15\r\ntxt:Some string\r\n", want: Verbatim("txt", "Some string"), resp2: "$11\r\nSome string\r\n"},
	{name: "big number", wire: "(3492890328409238509324850943850943825024385\r\n",
		want: BigNumber("3492890328409238509324850943850943825024385"), resp2: "$43\r\n3492890328409238509324850943850943825024385\r\n"},
	{name: "negative big number", wire: "(-1\r\n", want: BigNumber("-1"), resp2: "$2\r\n-1\r\n"},
	// Redis passes a script's {big_number=...} through unchecked.
	{name: "big number text", wire: "(abc\r\n", want: BigNumber("abc"), resp2: "$3\r\nabc\r\n"},
	{name: "empty big number", wire: "(\r\n", want: BigNumber(""), resp2: "$0\r\n\r\n"},
	{name: "map", wire: "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
		want:  Map(SimpleString("first"), Int(1), SimpleString("second"), Int(2)),
		resp2: "*4\r\n+first\r\n:1\r\n+second\r\n:2\r\n"},
	{name: "empty map", wire: "%0\r\n", want: Map(), resp2: "*0\r\n"},
	{name: "set", wire: "~3\r\n+a\r\n:1\r\n#f\r\n", want: Set(SimpleString("a"), Int(1), Bool(false)),
		resp2: "*3\r\n+a\r\n:1\r\n:0\r\n"},
	{name: "push", wire: ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
		want:  Push(Bulk("message"), Bulk("ch"), Bulk("hi")),
		resp2: "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"},
	{name: "attribute on a value", wire: "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*1\r\n:2039123\r\n",
		want:  Array(Int(2039123)).WithAttrs(SimpleString("key-popularity"), Map(Bulk("a"), Double(0.1923))),
		resp2: "*1\r\n:2039123\r\n"},
	{name: "attribute inside an array", wire: "*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nx\r\n",
		want:  Array(Int(1), Bulk("x").WithAttrs(SimpleString("ttl"), Int(3600))),
		resp2: "*2\r\n:1\r\n$1\r\nx\r\n"},
	{name: "empty attribute", wire: "|0\r\n:1\r\n", want: Int(1).WithAttrs(), resp2: ":1\r\n"},
	{name: "map of every type", wire: "%3\r\n+n\r\n_\r\n$1\r\nd\r\n,-0.5\r\n:7\r\n~1\r\n(12\r\n",
		want:  Map(SimpleString("n"), Null(), Bulk("d"), Double(-0.5), Int(7), Set(BigNumber("12"))),
		resp2: "*6\r\n+n\r\n$-1\r\n$1\r\nd\r\n$4\r\n-0.5\r\n:7\r\n*1\r\n$2\r\n12\r\n"},

	// Streamed forms decode to their ordinary equivalents.
	{name: "streamed string", wire: "$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n",
		want: Bulk("Hello word"), resp3: "$10\r\nHello word\r\n", resp2: "$10\r\nHello word\r\n"},
	{name: "empty streamed string", wire: "$?\r\n;0\r\n", want: Bulk(""), resp3: "$0\r\n\r\n", resp2: "$0\r\n\r\n"},
	{name: "streamed array", wire: "*?\r\n:1\r\n:2\r\n:3\r\n.\r\n", want: Array(Int(1), Int(2), Int(3)),
		resp3: "*3\r\n:1\r\n:2\r\n:3\r\n", resp2: "*3\r\n:1\r\n:2\r\n:3\r\n"},
	{name: "empty streamed array", wire: "*?\r\n.\r\n", want: Array(), resp3: "*0\r\n", resp2: "*0\r\n"},
	{name: "streamed map", wire: "%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n", want: Map(SimpleString("a"), Int(1), SimpleString("b"), Int(2)),
		resp3: "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", resp2: "*4\r\n+a\r\n:1\r\n+b\r\n:2\r\n"},
	{name: "streamed set of streamed", wire: "~?\r\n*?\r\n$?\r\n;1\r\nx\r\n;0\r\n.\r\n:5\r\n.\r\n",
		want:  Set(Array(Bulk("x")), Int(5)),
		resp3: "~2\r\n*1\r\n$1\r\nx\r\n:5\r\n", resp2: "*2\r\n*1\r\n$1\r\nx\r\n:5\r\n"},
	{name: "streamed with attribute", wire: "*?\r\n|1\r\n+a\r\n+b\r\n:1\r\n.\r\n",
		want:  Array(Int(1).WithAttrs(SimpleString("a"), SimpleString("b"))),
		resp3: "*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", resp2: "*1\r\n:1\r\n"},
}

func (g golden) canonical3() string {
	if g.resp3 != "" {
		return g.resp3
	}
	return g.wire
}

func (g golden) canonical2() string {
	if g.resp2 != "" {
		return g.resp2
	}
	return g.wire
}

func TestGoldenDecode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			for _, copy := range []bool{true, false} {
				var d Decoder
				buf := []byte(g.wire + "+next\r\n")
				decode := d.Decode
				if !copy {
					decode = d.DecodeNoCopy
				}
				v, n, err := decode(buf)
				if err != nil {
					t.Fatalf("copy=%v: Decode(%q): %v", copy, g.wire, err)
				}
				if n != len(g.wire) {
					t.Fatalf("copy=%v: Decode(%q) consumed %d bytes, want %d", copy, g.wire, n, len(g.wire))
				}
				if !v.Equal(g.want) {
					t.Fatalf("copy=%v: Decode(%q) = %v, want %v", copy, g.wire, v, g.want)
				}
			}
		})
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			if got := string(AppendValue(nil, g.want)); got != g.canonical3() {
				t.Errorf("AppendValue(%v) = %q, want %q", g.want, got, g.canonical3())
			}
			if got := string(AppendValueRESP2(nil, g.want)); got != g.canonical2() {
				t.Errorf("AppendValueRESP2(%v) = %q, want %q", g.want, got, g.canonical2())
			}
		})
	}
}

// TestGoldenReader reads every golden vector, back to back, from one stream:
// whole, one byte per Read, and in odd-sized reads that split frames at
// every possible place, with a tiny initial buffer so that it must grow.
func TestGoldenReader(t *testing.T) {
	var stream []byte
	for _, g := range goldens {
		stream = append(stream, g.wire...)
	}
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"halves":   func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data err": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	}
	for name, mk := range readers {
		for _, copy := range []bool{true, false} {
			r := NewReaderSize(mk(), 64, Limits{})
			for _, g := range goldens {
				var v Value
				var err error
				if copy {
					v, err = r.ReadValue()
				} else {
					v, err = r.ReadValueNoCopy()
				}
				if err != nil {
					t.Fatalf("%s copy=%v %s: %v", name, copy, g.name, err)
				}
				if !v.Equal(g.want) {
					t.Fatalf("%s copy=%v %s: got %v, want %v", name, copy, g.name, v, g.want)
				}
			}
			if _, err := r.ReadValue(); err != io.EOF {
				t.Fatalf("%s: after the last value: %v, want io.EOF", name, err)
			}
		}
	}
}

// TestIncomplete checks that every strict prefix of every vector is "need
// more", never an error or a value.
func TestIncomplete(t *testing.T) {
	var d Decoder
	for _, g := range goldens {
		for i := 0; i < len(g.wire); i++ {
			v, n, err := d.Decode([]byte(g.wire[:i]))
			if err != nil || n != 0 || v.Type != TypeInvalid {
				t.Fatalf("%s: Decode(%q) = %v, %d, %v; want need-more", g.name, g.wire[:i], v, n, err)
			}
		}
	}
}

func TestReaderUnexpectedEOF(t *testing.T) {
	r := NewReader(strings.NewReader("*2\r\n:1\r\n"), Limits{})
	if _, err := r.ReadValue(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := r.ReadValue(); err != io.ErrUnexpectedEOF {
		t.Fatalf("error is not sticky: %v", err)
	}
}

func TestNoCopyBorrowsAndCopyOwns(t *testing.T) {
	buf := []byte("*2\r\n$3\r\nabc\r\n+xyz\r\n")
	var d Decoder
	owned, _, _ := d.Decode(buf)
	borrowed, _, _ := d.DecodeNoCopy(buf)
	copy(buf, bytes.ToUpper(buf))
	if owned.Elems[0].Str != "abc" || owned.Elems[1].Str != "xyz" {
		t.Fatalf("Decode result changed with its input: %v", owned)
	}
	if borrowed.Elems[0].Str != "ABC" || borrowed.Elems[1].Str != "XYZ" {
		t.Fatalf("DecodeNoCopy result does not borrow its input: %v", borrowed)
	}
}

// TestAppendBulkHeader: a header, its payload and CRLF written apart are
// the bulk string AppendBulkString writes whole.
func TestAppendBulkHeader(t *testing.T) {
	for _, s := range []string{"", "x", "hello", strings.Repeat("v", 4096)} {
		got := append(append(AppendBulkHeader(nil, len(s)), s...), '\r', '\n')
		if want := AppendBulkString(nil, s); string(got) != string(want) {
			t.Errorf("header+payload of %d bytes = %q, want %q", len(s), got[:min(len(got), 16)], want[:min(len(want), 16)])
		}
	}
}

// TestHeaderDigits: every header length form, around each digit count's
// edges, is the decimal strconv writes.
func TestHeaderDigits(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 11, 42, 99, 100, 101, 512, 999, 1000, 1001, 4096, 9999, 10000, 10001, 123456789, -1, -10, -100} {
		got := string(AppendArrayHeader(nil, n))
		if want := "*" + strconv.Itoa(n) + "\r\n"; got != want {
			t.Errorf("AppendArrayHeader(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestAppendBulkStringInPlace: short strings written in place when the
// buffer has room, and through the general path when it has not (or only
// just not), are the same bytes, after whatever the buffer held.
func TestAppendBulkStringInPlace(t *testing.T) {
	for n := 0; n <= 120; n++ {
		s := strings.Repeat(string(rune('a'+n%26)), n)
		want := "pre$" + strconv.Itoa(n) + "\r\n" + s + "\r\n"
		for _, room := range []int{0, len(want) - 4, len(want) - 3, len(want) - 2, len(want) + 8} {
			dst := append(make([]byte, 0, 3+room), "pre"...)
			if got := string(AppendBulkString(dst, s)); got != want {
				t.Fatalf("%d bytes, %d spare: %q, want %q", n, room, got, want)
			}
		}
	}
	// A bulk error goes through the same path with its own type byte.
	if got, want := string(AppendBlobError(make([]byte, 0, 64), "ERR x")), "!5\r\nERR x\r\n"; got != want {
		t.Fatalf("blob error: %q, want %q", got, want)
	}
}

// ParseDouble reads doubles as Redis writes them, in RESP2 bulk strings
// too: a client's Float64 of a RESP2 reply agrees with the RESP3 decoder.
func TestParseDouble(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"1.5", 1.5}, {"-0.25", -0.25}, {"1e3", 1000}, {"inf", math.Inf(1)}, {"-inf", math.Inf(-1)},
		{"1e400", math.Inf(1)}, {"-1e400", math.Inf(-1)},
	} {
		if f, err := ParseDouble(tc.in); err != nil || f != tc.want {
			t.Errorf("ParseDouble(%q) = %v, %v; want %v", tc.in, f, err, tc.want)
		}
	}
	for _, in := range []string{"nan", "-nan", "+NaN", "NAN"} {
		if f, err := ParseDouble(in); err != nil || !math.IsNaN(f) {
			t.Errorf("ParseDouble(%q) = %v, %v; want NaN", in, f, err)
		}
	}
	for _, in := range []string{"", "0x1p3", "1_000", "-nax", "abc", "1.2.3"} {
		if f, err := ParseDouble(in); !errors.Is(err, strconv.ErrSyntax) {
			t.Errorf("ParseDouble(%q) = %v, %v; want strconv.ErrSyntax", in, f, err)
		}
	}
}
