package resp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestMalformed(t *testing.T) {
	small := Limits{MaxBulkLen: 10, MaxAggregateLen: 3, MaxDepth: 3, MaxLineLen: 8}
	tests := []struct {
		name   string
		wire   string
		lim    Limits
		want   error
		offset int64
	}{
		{name: "bad type byte", wire: "?1\r\n", want: ErrInvalidType},
		{name: "bad type byte inside", wire: "*2\r\n:1\r\nx\r\n", want: ErrInvalidType, offset: 8},
		{name: "negative bulk length", wire: "$-2\r\nab\r\n", want: ErrInvalidLength, offset: 1},
		{name: "negative array count", wire: "*-5\r\n", want: ErrInvalidLength, offset: 1},
		{name: "null map is not a thing", wire: "%-1\r\n", want: ErrInvalidLength, offset: 1},
		{name: "null blob error", wire: "!-1\r\n", want: ErrInvalidLength, offset: 1},
		{name: "non-numeric length", wire: "$abc\r\n", want: ErrInvalidLength, offset: 1},
		{name: "empty length", wire: "*\r\n", want: ErrInvalidLength, offset: 1},
		{name: "length too many digits", wire: "$99999999999999999999\r\n", want: ErrInvalidLength, offset: 1},
		{name: "bulk over default limit", wire: "$536870913\r\n", want: ErrTooLarge, offset: 1},
		{name: "bulk over limit", wire: "$11\r\n", lim: small, want: ErrTooLarge, offset: 1},
		{name: "aggregate over limit", wire: "*4\r\n", lim: small, want: ErrTooLarge, offset: 1},
		{name: "map over limit", wire: "%4\r\n", lim: small, want: ErrTooLarge, offset: 1},
		{name: "streamed aggregate over limit", wire: "*?\r\n:1\r\n:2\r\n:3\r\n:4\r\n", lim: small, want: ErrTooLarge, offset: 16},
		{name: "streamed string over limit", wire: "$?\r\n;6\r\nabcdef\r\n;6\r\n", lim: small, want: ErrTooLarge, offset: 17},
		{name: "line over limit", wire: "+123456789\r\n", lim: small, want: ErrTooLarge, offset: 1},
		{name: "unterminated line over limit", wire: "-1234567890", lim: small, want: ErrTooLarge, offset: 1},
		{name: "too deep", wire: "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", lim: small, want: ErrTooDeep, offset: 12},
		{name: "too deep attributes", wire: "*1\r\n|1\r\n*1\r\n|1\r\n", lim: small, want: ErrTooDeep, offset: 12},
		{name: "bulk without CRLF", wire: "$3\r\nabcXY", want: ErrMissingCRLF, offset: 7},
		{name: "line with bare LF", wire: "+OK\n", want: ErrMissingCRLF, offset: 3},
		{name: "length with bare LF", wire: "$3\nabc\r\n", want: ErrInvalidLength, offset: 2},
		{name: "length CR without LF", wire: "*1\rx", want: ErrMissingCRLF, offset: 3},
		// A bad byte that is the last one buffered is an error at once,
		// not a wait for more (no byte to come can mend it). (An integer
		// value waits for the end of its line: TestBadValueInSoundFrame.)
		{name: "length bad last byte", wire: "$x", want: ErrInvalidLength, offset: 1},
		{name: "count bad last byte", wire: "*x", want: ErrInvalidLength, offset: 1},
		{name: "chunk length bad last byte", wire: "$?\r\n;x", want: ErrInvalidLength, offset: 5},
		{name: "bulk bad last byte", wire: "$3\r\nabcX", want: ErrMissingCRLF, offset: 7},
		{name: "bulk CR then bad last byte", wire: "$3\r\nabc\rX", want: ErrMissingCRLF, offset: 7},
		{name: "chunk bad last byte", wire: "$?\r\n;1\r\naX", want: ErrMissingCRLF, offset: 9},
		{name: "end outside streamed", wire: ".\r\n", want: ErrInvalidType},
		{name: "end in counted array", wire: "*2\r\n:1\r\n.\r\n", want: ErrInvalidType, offset: 8},
		{name: "streamed map odd", wire: "%?\r\n:1\r\n.\r\n", want: ErrInvalidValue, offset: 8},
		{name: "attribute without value", wire: "*?\r\n|1\r\n:1\r\n:2\r\n.\r\n", want: ErrInvalidValue, offset: 16},
		{name: "chunk without semicolon", wire: "$?\r\n4\r\nabcd\r\n", want: ErrInvalidLength, offset: 4},
		{name: "chunk negative", wire: "$?\r\n;-1\r\n", want: ErrInvalidLength, offset: 5},
		{name: "chunk without CRLF", wire: "$?\r\n;2\r\nabcd", want: ErrMissingCRLF, offset: 10},
		{name: "streamed marker junk", wire: "*?x\r\n", want: ErrMissingCRLF, offset: 2},
		// Chained, attributes were merged recursively: 120 KB of them took
		// 6.9 GB and 48 s to build, 16 MB overflowed the stack.
		{name: "attribute after attribute", wire: "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n:1\r\n", want: ErrInvalidValue, offset: 12},
		{name: "empty attribute after attribute", wire: "*1\r\n|0\r\n|0\r\n:1\r\n", want: ErrInvalidValue, offset: 8},
		{name: "streamed attribute after attribute", wire: "|?\r\n.\r\n|0\r\n:1\r\n", want: ErrInvalidValue, offset: 7},
		// seen + n overflowed and passed the limit check: index out of range.
		{name: "chunk length overflowing the total", wire: "$?\r\n;1\r\na\r\n;9223372036854775807\r\n", want: ErrTooLarge, offset: 12},
		{name: "bulk over a limit above the cap", wire: "$9223372036854775807\r\n", lim: Limits{MaxBulkLen: 1<<63 - 1}, want: ErrTooLarge, offset: 1},
		{name: "map over a limit above the cap", wire: "%9223372036854775807\r\n", lim: Limits{MaxAggregateLen: 1<<63 - 1}, want: ErrTooLarge, offset: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{Limits: tt.lim}
			_, n, err := d.Decode([]byte(tt.wire))
			checkProtoErr(t, "Decode", err, tt.want, tt.offset)
			if n != 0 {
				t.Errorf("Decode consumed %d bytes on error", n)
			}
			// The Reader reports the same error, with the offset counted
			// from the start of the stream (here after one "+OK\r\n").
			stream := "+OK\r\n" + tt.wire
			r := NewReaderSize(iotest.OneByteReader(strings.NewReader(stream)), 64, tt.lim)
			if v, err := r.ReadValue(); err != nil || v.Str != "OK" {
				t.Fatalf("first value: %v, %v", v, err)
			}
			_, err = r.ReadValue()
			checkProtoErr(t, "Reader", err, tt.want, tt.offset+5)
			if _, err2 := r.ReadValue(); err2 != err {
				t.Errorf("Reader error is not sticky: %v then %v", err, err2)
			}
		})
	}
}

// TestBadValueInSoundFrame: a value that does not parse, in a frame whose
// framing is sound, loses that frame alone. The Decoder says how long it
// is, and a Reader skips it and reads the value after it.
func TestBadValueInSoundFrame(t *testing.T) {
	tests := []struct {
		name   string
		wire   string
		want   error
		offset int64
		framed Type
	}{
		{name: "null with junk", wire: "_x\r\n", want: ErrInvalidValue, offset: 1, framed: TypeNull},
		{name: "integer not a number", wire: ":12a\r\n", want: ErrInvalidNumber, offset: 3, framed: TypeInteger},
		{name: "integer empty", wire: ":\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeInteger},
		{name: "integer sign only", wire: ":-\r\n", want: ErrInvalidNumber, offset: 2, framed: TypeInteger},
		{name: "integer overflow", wire: ":9223372036854775808\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeInteger},
		{name: "integer underflow", wire: ":-9223372036854775809\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeInteger},
		{name: "integer of many digits", wire: ":123456789012345678901234\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeInteger},
		{name: "double garbage", wire: ",1.2.3\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeDouble},
		{name: "double empty", wire: ",\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeDouble},
		{name: "double hex", wire: ",0x1p3\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeDouble},
		{name: "double signed garbage", wire: ",-nax\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeDouble},
		{name: "boolean other", wire: "#x\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeBoolean},
		{name: "boolean long", wire: "#tt\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeBoolean},
		{name: "boolean empty", wire: "#\r\n", want: ErrInvalidNumber, offset: 1, framed: TypeBoolean},
		{name: "verbatim without format", wire: "=3\r\nabc\r\n", want: ErrInvalidValue, offset: 4, framed: TypeVerbatim},
		{name: "verbatim bad format", wire: "=5\r\nabcde\r\n", want: ErrInvalidValue, offset: 4, framed: TypeVerbatim},
		// Inside aggregates: the whole top-level value goes, and the first
		// bad value is the one reported.
		{name: "in an array", wire: "*3\r\n:1\r\n:x\r\n,y\r\n", want: ErrInvalidNumber, offset: 9, framed: TypeArray},
		{name: "in a nested map", wire: "%1\r\n+k\r\n*2\r\n#t\r\n#q\r\n", want: ErrInvalidNumber, offset: 17, framed: TypeMap},
		{name: "in a streamed array", wire: "*?\r\n:1\r\n:1z\r\n.\r\n", want: ErrInvalidNumber, offset: 10, framed: TypeArray},
		{name: "in a push", wire: ">2\r\n+invalidate\r\n:x\r\n", want: ErrInvalidNumber, offset: 18, framed: TypePush},
		// The frame's type is its value's, not that of an attribute before it.
		{name: "in an attribute of a push", wire: "|1\r\n+a\r\n:b\r\n>1\r\n+c\r\n", want: ErrInvalidNumber, offset: 9, framed: TypePush},
		{name: "in the value after an attribute", wire: "|1\r\n+a\r\n:1\r\n:x\r\n", want: ErrInvalidNumber, offset: 13, framed: TypeInteger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			_, n, err := d.Decode([]byte(tt.wire))
			checkProtoErr(t, "Decode", err, tt.want, tt.offset)
			if n != len(tt.wire) {
				t.Errorf("Decode took %d bytes, want the frame's %d", n, len(tt.wire))
			}
			var pe *ProtocolError
			if errors.As(err, &pe) && pe.Framed != tt.framed {
				t.Errorf("Framed = %q, want %q", pe.Framed, tt.framed)
			}
			// Fed a byte at a time, a Reader reports it at its stream
			// offset, then reads on.
			stream := "+OK\r\n" + tt.wire + ":7\r\n"
			r := NewReaderSize(iotest.OneByteReader(strings.NewReader(stream)), 64, Limits{})
			if v, err := r.ReadValue(); err != nil || v.Str != "OK" {
				t.Fatalf("first value: %v, %v", v, err)
			}
			_, err = r.ReadValue()
			checkProtoErr(t, "Reader", err, tt.want, tt.offset+5)
			if v, err := r.ReadValue(); err != nil || v.Type != TypeInteger || v.Int != 7 {
				t.Errorf("value after the bad frame: %v, %v; want 7", v, err)
			}
		})
	}
	// The frame ends where its line ends: a bad integer still waiting for
	// its CRLF is incomplete, not an error.
	var d Decoder
	if v, n, err := d.Decode([]byte(":1x")); n != 0 || err != nil {
		t.Errorf("Decode(\":1x\") = %v, %d, %v; want more input", v, n, err)
	}
	// A framing error later in the same frame wins: the stream is lost.
	_, n, err := d.Decode([]byte("*2\r\n:x\r\n$abc\r\n"))
	checkProtoErr(t, "Decode", err, ErrInvalidLength, 9)
	if pe := (*ProtocolError)(nil); n != 0 || errors.As(err, &pe) && pe.Framed != 0 {
		t.Errorf("a framing error after a bad value: n = %d, %v; want 0 and not Framed", n, err)
	}
	// A line that breaks the framing is still a sticky error.
	r := NewReader(strings.NewReader(":1x\n:7\r\n"), Limits{})
	_, err = r.ReadValue()
	checkProtoErr(t, "Reader", err, ErrMissingCRLF, 3)
	if _, err2 := r.ReadValue(); err2 != err {
		t.Errorf("framing error is not sticky: %v then %v", err, err2)
	}
}

func checkProtoErr(t *testing.T, who string, err, want error, offset int64) {
	t.Helper()
	if !errors.Is(err, want) || !errors.Is(err, ErrProtocol) {
		t.Fatalf("%s: error %v, want %v (and ErrProtocol)", who, err, want)
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %T is not a *ProtocolError", who, err)
	}
	if pe.Offset != offset {
		t.Errorf("%s: offset %d, want %d (%v)", who, pe.Offset, offset, err)
	}
}

// TestHugeLengthsAllocateNothing: a length within the limits but with no
// bytes behind it must not make the decoder allocate for it.
func TestHugeLengthsAllocateNothing(t *testing.T) {
	inputs := []string{
		"$536870912\r\n",  // the largest bulk allowed, no payload
		"*2147483647\r\n", // the largest array allowed, no elements
		"%2147483647\r\n", // the largest map
		"*2147483647\r\n:1\r\n:2\r\n",
		"$?\r\n;536870912\r\n",
	}
	var d Decoder
	for _, in := range inputs {
		buf := []byte(in)
		allocs := testing.AllocsPerRun(100, func() {
			if _, n, err := d.Decode(buf); n != 0 || err != nil {
				t.Fatalf("Decode(%q): n=%d err=%v, want need-more", in, n, err)
			}
		})
		if allocs != 0 {
			t.Errorf("Decode(%q) allocated %v times", in, allocs)
		}
	}
	// The Reader's buffer grows only with the bytes that really arrive.
	r := NewReaderSize(strings.NewReader("$536870912\r\nabc"), 64, Limits{})
	if _, err := r.ReadValue(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if len(r.buf) > 64 {
		t.Errorf("buffer grew to %d bytes for 15 bytes of input", len(r.buf))
	}
}

// TestReaderTimeoutIsNotSticky: a read that times out leaves the partial
// frame buffered and the next call completes it.
func TestReaderTimeoutIsNotSticky(t *testing.T) {
	tr := &timeoutReader{parts: []string{"*2\r\n$5\r\nhel", "", "lo\r\n:7\r\n"}}
	r := NewReader(tr, Limits{})
	if _, err := r.ReadValue(); !isTimeout(err) {
		t.Fatalf("got %v, want a timeout", err)
	}
	v, err := r.ReadValue()
	if err != nil || !v.Equal(Array(Bulk("hello"), Int(7))) {
		t.Fatalf("after the timeout: %v, %v", v, err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// timeoutReader returns its parts in turn; an empty part is a timeout.
type timeoutReader struct{ parts []string }

func (r *timeoutReader) Read(p []byte) (int, error) {
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	part := r.parts[0]
	r.parts = r.parts[1:]
	if part == "" {
		return 0, timeoutErr{}
	}
	return copy(p, part), nil
}

func TestReaderShrinksAfterLargeFrame(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	stream := string(AppendBulkString(nil, big)) + "+OK\r\n"
	r := NewReaderSize(bytes.NewReader([]byte(stream)), 1024, Limits{})
	v, err := r.ReadValue()
	if err != nil || v.Str != big {
		t.Fatalf("large bulk: %v", err)
	}
	if len(r.buf) < 3<<20 {
		t.Fatalf("buffer is %d bytes, expected it to have grown", len(r.buf))
	}
	if v, err := r.ReadValue(); err != nil || v.Str != "OK" {
		t.Fatalf("next value: %v, %v", v, err)
	}
	if _, err := r.ReadValue(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	if len(r.buf) != 1024 {
		t.Errorf("buffer still %d bytes after the large frame was consumed", len(r.buf))
	}
}

// TestHostileChains: inputs whose cost used to grow faster than their size
// fail at once, allocating nothing but the error: a chain of 10,000 attributes (120 KB;
// building it merged them recursively, 6.9 GB and 48 s) and a streamed
// string whose chunk lengths overflow their sum. (What a frame that
// decodes costs is FuzzDecode's to bound.)
func TestHostileChains(t *testing.T) {
	for name, wire := range map[string]string{
		"attributes": strings.Repeat("|1\r\n+a\r\n+b\r\n", 10_000) + ":1\r\n",
		"chunks":     "$?\r\n;1\r\na\r\n;9223372036854775807\r\n" + strings.Repeat("x", 1000),
	} {
		t.Run(name, func(t *testing.T) {
			in := []byte(wire)
			var err error
			allocs := testing.AllocsPerRun(10, func() { _, _, err = (&Decoder{}).Decode(in) })
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("Decode: %v, want a protocol error", err)
			}
			if allocs > 2 { // the error
				t.Errorf("Decode allocated %v times", allocs)
			}
		})
	}
}

// MaxDepth bounds aggregates and attributes, as Limits says: a streamed
// string, which holds chunks and no values, is not a level. It used to
// count as one, so a streamed string in an array at MaxDepth 1 was refused
// while the same string counted was accepted.
func TestStreamedStringIsNotALevel(t *testing.T) {
	d := Decoder{Limits: Limits{MaxDepth: 1}}
	for _, wire := range []string{"*1\r\n$1\r\na\r\n", "*1\r\n$?\r\n;1\r\na\r\n;0\r\n"} {
		v, n, err := d.Decode([]byte(wire))
		if err != nil || n != len(wire) || !v.Equal(Array(Bulk("a"))) {
			t.Errorf("MaxDepth 1: Decode(%q) = %v, %d, %v; want [a]", wire, v, n, err)
		}
	}
	if _, _, err := d.Decode([]byte("*1\r\n*1\r\n$?\r\n;1\r\na\r\n;0\r\n")); !errors.Is(err, ErrTooDeep) {
		t.Errorf("MaxDepth 1, two arrays: %v; want ErrTooDeep", err)
	}
}

// A Decoder copied after use (a template, an element of a slice that grew)
// decodes with scratch of its own: the copies used to share the original's
// frame stack, a data race between goroutines and wrong frames.
func TestCopiedDecoderHasItsOwnScratch(t *testing.T) {
	wire := []byte("*1\r\n*1\r\n*1\r\n:1\r\n")
	var d1 Decoder
	if _, _, err := d1.Decode(wire); err != nil {
		t.Fatal(err)
	}
	d2 := d1
	v, _, err := d2.Decode(wire)
	if err != nil || !v.Equal(Array(Array(Array(Int(1))))) {
		t.Fatalf("the copy: %v, %v", v, err)
	}
	if &d2.s.stack[:1][0] == &d1.s.small[0] {
		t.Fatal("the copy's frame stack is the original's")
	}
	if &d2.s.stack[:1][0] != &d2.s.small[0] {
		t.Fatal("the copy's frame stack is not its own small array")
	}
}
