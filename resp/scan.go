package resp

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// Decoding is done in two passes over bytes already in memory:
//
//  1. scan (this file) walks one frame, checks every byte of its framing
//     against the Limits, and counts how many Values and string bytes the
//     frame needs. It allocates nothing. When the frame is incomplete it
//     stops at the start of the last item it could not finish and can be
//     resumed later from exactly there, so a large frame arriving in many
//     reads is scanned once in total, not once per read.
//  2. build (build.go) walks the now-validated frame again and fills two
//     exactly sized arenas: one []Value for every nested value, one []byte
//     for every string that must be copied.
//
// So a complete frame costs at most two allocations however large it is,
// and an incomplete or malicious one costs none.

// errIncomplete is returned by the scanner when the frame continues beyond
// the bytes it was given. It never leaves the package.
var errIncomplete = errors.New("resp: incomplete frame")

// frameKind is what an open entry of the scanner's stack is waiting for.
type frameKind uint8

const (
	frameCounted        frameKind = iota // an aggregate with a known element count
	frameStreamed                        // an aggregate ended by "."
	frameStreamedString                  // a "$?" string: ";n" chunks ended by ";0"
)

// frame is one open aggregate (or streamed string) in the scanner's stack.
type frame struct {
	kind   frameKind
	typ    Type  // aggregate type
	remain int64 // frameCounted: items still expected
	seen   int64 // frameStreamed: items so far; frameStreamedString: bytes so far
	slot   int   // frameStreamed: index into scanner.counts for its final length
}

// scanner validates and measures one frame; see the comment at the top of the
// file. Its zero value (after reset) is ready to scan a new frame.
type scanner struct {
	lim Limits // resolved

	pos         int     // next byte to scan, relative to the start of the frame
	stack       []frame // open aggregates, innermost last
	attrPending bool    // an attribute ended and its value has not started yet
	nvals       int     // Values needed by nested elements and attributes
	nbytes      int     // bytes of strings that a copying build must copy
	nstream     int     // bytes of streamed strings (copied even without copying)
	counts      []int   // element counts of streamed aggregates, in header order
	small       [8]frame
	self        *scanner // whose scratch stack and counts are: s, unless s was copied
	// bad is the first malformed value found in a frame that is still
	// well framed (see ProtocolError.Framed), with a frame-relative
	// offset; the scan goes on to the frame's end. top is the type of the
	// frame's value (after any attribute), which such an error reports.
	bad error
	top Type
}

func (s *scanner) reset(lim Limits) {
	s.lim = lim
	s.pos, s.nvals, s.nbytes, s.nstream = 0, 0, 0, 0
	s.attrPending = false
	s.bad, s.top = nil, 0
	if s.self != s {
		// New, or a copy (of a Decoder in a slice, say) whose scratch
		// would be the original's: take scratch of its own.
		s.self, s.stack, s.counts = s, s.small[:0], nil
	}
	s.stack = s.stack[:0]
	s.counts = s.counts[:0]
}

// protoErr builds a *ProtocolError at frame-relative offset at.
func protoErr(sentinel error, at int, detail string) error {
	return &ProtocolError{Err: sentinel, Offset: int64(at), Detail: detail}
}

// scan continues scanning buf, which must start at the frame's first byte and
// hold at least everything given to previous calls since reset. It returns
// nil when the frame is complete (s.pos is then its length), errIncomplete
// when more bytes are needed, or a *ProtocolError with a frame-relative
// offset.
func (s *scanner) scan(buf []byte) error {
	for {
		pos := s.pos
		if pos >= len(buf) {
			return errIncomplete
		}
		if n := len(s.stack); n > 0 {
			top := &s.stack[n-1]
			switch top.kind {
			case frameStreamedString:
				if err := s.scanChunk(buf, top); err != nil {
					return err
				}
				if len(s.stack) < n && s.itemDone() {
					return nil // the terminating chunk ended the frame
				}
				continue
			case frameStreamed:
				if buf[pos] != '.' && top.seen >= s.maxElems(top.typ) {
					return protoErr(ErrTooLarge, pos, "streamed aggregate longer than the limit")
				}
			}
		}
		t := Type(buf[pos])
		if t == '.' {
			if err := s.scanEnd(buf); err != nil {
				return err
			}
			if s.itemDone() {
				return nil
			}
			continue
		}
		if s.attrPending && t == TypeAttribute {
			// One value carries one attribute. (Merging a chain of them
			// would make building a frame's values cost the square of its
			// length, and its recursion as deep as the chain is long.)
			return protoErr(ErrInvalidValue, pos, "an attribute right after another")
		}
		s.attrPending = false
		if len(s.stack) == 0 && t != TypeAttribute {
			s.top = t
		}
		next, item, err := s.scanItem(buf, t)
		if err != nil {
			return err
		}
		s.pos = next
		if item && s.itemDone() {
			return nil
		}
	}
}

// scanItem scans the item starting at s.pos with type byte t. It returns the
// position after it and whether it is a complete item (false when it opened
// an aggregate, whose elements come next).
func (s *scanner) scanItem(buf []byte, t Type) (next int, item bool, err error) {
	pos := s.pos
	switch t {
	case TypeSimpleString, TypeError:
		end, err := s.line(buf, pos+1)
		if err != nil {
			return 0, false, err
		}
		if t != TypeSimpleString || !isInterned(buf[pos+1:end]) {
			s.nbytes += end - pos - 1
		}
		return end + 2, true, nil
	case TypeInteger:
		_, next, err := parseInt(buf, pos+1, ErrInvalidNumber)
		if pe, ok := err.(*ProtocolError); ok && pe.Err == ErrInvalidNumber {
			// Not a number, but the line it is on frames it.
			return s.badLine(buf, pos, err)
		}
		return next, true, err
	case TypeNull:
		if len(buf) > pos+1 && buf[pos+1] != '\r' {
			return s.badLine(buf, pos, protoErr(ErrInvalidValue, pos+1, "null with a payload"))
		}
		if err := s.expect(buf, pos+1, "\r\n"); err != nil {
			return 0, false, err
		}
		return pos + 3, true, nil
	case TypeBoolean:
		end, err := s.line(buf, pos+1)
		if err != nil {
			return 0, false, err
		}
		if end != pos+2 || buf[pos+1] != 't' && buf[pos+1] != 'f' {
			s.badValue(protoErr(ErrInvalidNumber, pos+1, "boolean "+strconv.Quote(string(buf[pos+1:end]))+" is not t or f"))
		}
		return end + 2, true, nil
	case TypeDouble, TypeBigNumber:
		end, err := s.line(buf, pos+1)
		if err != nil {
			return 0, false, err
		}
		text := buf[pos+1 : end]
		if t == TypeDouble {
			if _, err := parseDouble(text); err != nil {
				s.badValue(protoErr(ErrInvalidNumber, pos+1, "double "+strconv.Quote(string(text))))
			}
		} else {
			// Any text: Redis passes a script's {big_number=...} and a
			// module's big number through unchecked, and the frame is
			// sound whatever the text (Value.BigInt says whether it is a
			// number).
			s.nbytes += len(text)
		}
		return end + 2, true, nil
	case TypeBulkString, TypeBlobError, TypeVerbatim:
		return s.scanBulk(buf, t)
	case TypeArray, TypeMap, TypeSet, TypePush, TypeAttribute:
		return s.scanAggregate(buf, t)
	}
	return 0, false, protoErr(ErrInvalidType, pos, "type byte "+strconv.Quote(string(rune(t))))
}

// scanBulk scans a length-prefixed string: $, ! or =.
func (s *scanner) scanBulk(buf []byte, t Type) (int, bool, error) {
	pos := s.pos
	if t == TypeBulkString && len(buf) > pos+1 && buf[pos+1] == '?' {
		if err := s.expect(buf, pos+2, "\r\n"); err != nil {
			return 0, false, err
		}
		// Not counted against MaxDepth, which bounds aggregates and
		// attributes: a streamed string holds no values, only chunks.
		s.stack = append(s.stack, frame{kind: frameStreamedString, typ: t})
		return pos + 4, false, nil
	}
	n, start, err := parseInt(buf, pos+1, ErrInvalidLength)
	if err != nil {
		return 0, false, err
	}
	switch {
	case n == -1 && t == TypeBulkString:
		return start, true, nil // RESP2 null bulk string
	case n < 0:
		return 0, false, protoErr(ErrInvalidLength, pos+1, "negative length "+strconv.FormatInt(n, 10))
	case n > s.lim.MaxBulkLen:
		return 0, false, protoErr(ErrTooLarge, pos+1, "bulk length "+strconv.FormatInt(n, 10))
	}
	end := start + int(n)
	if !crlfSoFar(buf, end) {
		return 0, false, protoErr(ErrMissingCRLF, end, "after bulk payload")
	}
	if end+2 > len(buf) {
		return 0, false, errIncomplete
	}
	if t == TypeVerbatim && (n < 4 || buf[start+3] != ':') {
		s.badValue(protoErr(ErrInvalidValue, start, "verbatim string without a format prefix"))
	}
	s.nbytes += int(n)
	return end + 2, true, nil
}

// badValue records err, a malformed value in a frame that is still well
// framed: the scan goes on to the end of the frame, which is then skipped
// whole with the first such error (see ProtocolError.Framed).
func (s *scanner) badValue(err error) {
	if s.bad == nil {
		s.bad = err
	}
}

// badLine handles a malformed value of a line type (an integer, a null)
// that starts at pos: if its line ends in CRLF, the value is recorded as
// bad (badValue) and the scan goes on after the line; a line that breaks
// the framing is that error instead.
func (s *scanner) badLine(buf []byte, pos int, err error) (int, bool, error) {
	end, lerr := s.line(buf, pos+1)
	if lerr != nil {
		return 0, false, lerr
	}
	s.badValue(err)
	return end + 2, true, nil
}

// scanChunk scans one ";n" chunk of the streamed string f.
func (s *scanner) scanChunk(buf []byte, f *frame) error {
	pos := s.pos
	if buf[pos] != ';' {
		return protoErr(ErrInvalidLength, pos, "streamed string chunk does not start with ';'")
	}
	n, start, err := parseInt(buf, pos+1, ErrInvalidLength)
	if err != nil {
		return err
	}
	switch {
	case n < 0:
		return protoErr(ErrInvalidLength, pos+1, "negative chunk length")
	case n == 0:
		s.pos = start
		s.stack = s.stack[:len(s.stack)-1]
		return nil
	case n > s.lim.MaxBulkLen-f.seen: // f.seen <= MaxBulkLen: no overflow
		return protoErr(ErrTooLarge, pos+1, "streamed string longer than the limit")
	}
	end := start + int(n)
	if !crlfSoFar(buf, end) {
		return protoErr(ErrMissingCRLF, end, "after streamed string chunk")
	}
	if end+2 > len(buf) {
		return errIncomplete
	}
	f.seen += n
	s.nstream += int(n)
	s.pos = end + 2
	return nil
}

// scanAggregate scans the header of an aggregate or attribute.
func (s *scanner) scanAggregate(buf []byte, t Type) (int, bool, error) {
	pos := s.pos
	if len(buf) > pos+1 && buf[pos+1] == '?' {
		if err := s.expect(buf, pos+2, "\r\n"); err != nil {
			return 0, false, err
		}
		if err := s.push(frame{kind: frameStreamed, typ: t, slot: len(s.counts)}, pos); err != nil {
			return 0, false, err
		}
		s.counts = append(s.counts, 0)
		return pos + 4, false, nil
	}
	n, next, err := parseInt(buf, pos+1, ErrInvalidLength)
	if err != nil {
		return 0, false, err
	}
	switch {
	case n == -1 && t == TypeArray:
		return next, true, nil // RESP2 null array
	case n < 0:
		return 0, false, protoErr(ErrInvalidLength, pos+1, "negative count "+strconv.FormatInt(n, 10))
	case n > s.lim.MaxAggregateLen:
		return 0, false, protoErr(ErrTooLarge, pos+1, "aggregate count "+strconv.FormatInt(n, 10))
	}
	if t == TypeMap || t == TypeAttribute {
		n *= 2
	}
	if err := s.push(frame{kind: frameCounted, typ: t, remain: n}, pos); err != nil {
		return 0, false, err
	}
	if n == 0 {
		s.pos = next
		s.stack = s.stack[:len(s.stack)-1]
		if t == TypeAttribute {
			s.nvals++ // the attribute Value itself
			s.attrPending = true
			return next, false, nil
		}
		return next, true, nil
	}
	return next, false, nil
}

// scanEnd scans the "." that ends a streamed aggregate.
func (s *scanner) scanEnd(buf []byte) error {
	pos := s.pos
	n := len(s.stack)
	if n == 0 || s.stack[n-1].kind != frameStreamed {
		return protoErr(ErrInvalidType, pos, "'.' outside a streamed aggregate")
	}
	if s.attrPending {
		return protoErr(ErrInvalidValue, pos, "attribute with no value after it")
	}
	if err := s.expect(buf, pos+1, "\r\n"); err != nil {
		return err
	}
	f := s.stack[n-1]
	if (f.typ == TypeMap || f.typ == TypeAttribute) && f.seen%2 != 0 {
		return protoErr(ErrInvalidValue, pos, "streamed map with a key and no value")
	}
	s.counts[f.slot] = int(f.seen)
	s.stack = s.stack[:n-1]
	s.pos = pos + 3
	if f.typ == TypeAttribute {
		s.nvals++
		s.attrPending = true
	}
	return nil
}

// maxElems is the most elements an aggregate of type t may hold.
func (s *scanner) maxElems(t Type) int64 {
	if t == TypeMap || t == TypeAttribute {
		return 2 * s.lim.MaxAggregateLen
	}
	return s.lim.MaxAggregateLen
}

// push opens an aggregate, checking the depth limit.
func (s *scanner) push(f frame, pos int) error {
	if len(s.stack) >= s.lim.MaxDepth {
		return protoErr(ErrTooDeep, pos, "more than "+strconv.Itoa(s.lim.MaxDepth)+" levels")
	}
	s.stack = append(s.stack, f)
	return nil
}

// itemDone records that a whole value ended at s.pos, closing every
// aggregate it completes. It reports whether the frame is complete.
func (s *scanner) itemDone() bool {
	if s.attrPending {
		// A streamed attribute just ended: the value it belongs to comes next.
		return false
	}
	for {
		n := len(s.stack)
		if n == 0 {
			return true
		}
		top := &s.stack[n-1]
		s.nvals++
		if top.kind == frameStreamed {
			top.seen++
			return false
		}
		top.remain--
		if top.remain > 0 {
			return false
		}
		s.stack = s.stack[:n-1]
		if top.typ == TypeAttribute {
			s.nvals++ // the attribute Value itself
			s.attrPending = true
			return false
		}
	}
}

// line finds the end of a line that starts at from: it returns the index of
// its '\r', which must be followed by '\n'. A line may not contain CR or LF.
func (s *scanner) line(buf []byte, from int) (int, error) {
	rest := buf[from:]
	end := bytes.IndexByte(rest, '\r')
	if lf := bytes.IndexByte(rest, '\n'); lf >= 0 && (end < 0 || lf < end) {
		end = lf
	}
	switch {
	case end < 0 && len(rest) <= s.lim.MaxLineLen:
		return 0, errIncomplete
	case end < 0 || end > s.lim.MaxLineLen:
		return 0, protoErr(ErrTooLarge, from, "line longer than the limit")
	case rest[end] == '\n':
		return 0, protoErr(ErrMissingCRLF, from+end, "line ends with a bare LF")
	case end+1 == len(rest):
		return 0, errIncomplete
	case rest[end+1] != '\n':
		return 0, protoErr(ErrMissingCRLF, from+end+1, "CR without LF in a line")
	}
	return from + end, nil
}

// expect checks that buf holds lit at from.
func (s *scanner) expect(buf []byte, from int, lit string) error {
	for i := 0; i < len(lit); i++ {
		if from+i >= len(buf) {
			return errIncomplete
		}
		if buf[from+i] != lit[i] {
			if lit[i] == '\r' || lit[i] == '\n' {
				return protoErr(ErrMissingCRLF, from+i, "")
			}
			return protoErr(ErrInvalidValue, from+i, "")
		}
	}
	return nil
}

// parseInt parses "[+-]digits\r\n" at pos, returning the number and the
// position after the CRLF. A malformed number is reported with sentinel
// (ErrInvalidNumber or ErrInvalidLength); errIncomplete when buf ends first.
func parseInt(buf []byte, pos int, sentinel error) (int64, int, error) {
	i := pos
	neg := false
	if i < len(buf) && (buf[i] == '-' || buf[i] == '+') {
		neg = buf[i] == '-'
		i++
	}
	start := i
	var n uint64
	for ; i < len(buf); i++ {
		c := buf[i]
		if c < '0' || c > '9' {
			break
		}
		if i-start >= 19 {
			return 0, 0, protoErr(sentinel, pos, "more than 19 digits")
		}
		n = n*10 + uint64(c-'0')
	}
	if i < len(buf) && (i == start || buf[i] != '\r') {
		// Reported now, even as the last byte buffered: no byte to come
		// can make it a number (a Reader would wait for one in vain). An
		// integer value's caller then looks for the end of its line
		// (badLine); a length has no line end to trust.
		return 0, 0, protoErr(sentinel, i, "not a number")
	}
	if i+1 >= len(buf) {
		return 0, 0, errIncomplete
	}
	if buf[i+1] != '\n' {
		return 0, 0, protoErr(ErrMissingCRLF, i+1, "after number")
	}
	if neg {
		if n > 1<<63 {
			return 0, 0, protoErr(sentinel, pos, "out of range")
		}
		return -int64(n), i + 2, nil
	}
	if n > 1<<63-1 {
		return 0, 0, protoErr(sentinel, pos, "out of range")
	}
	return int64(n), i + 2, nil
}

// crlfSoFar reports whether the bytes of buf at end and end+1, those of
// them already buffered, are the "\r\n" that must follow a payload.
func crlfSoFar(buf []byte, end int) bool {
	return (end >= len(buf) || buf[end] == '\r') && (end+1 >= len(buf) || buf[end+1] == '\n')
}

// ParseDouble parses a double as Redis writes one: the text of a RESP3
// double, or of a RESP2 bulk string that carries one (ZSCORE, a script's
// {double=...}): a decimal or exponent number, "inf", "-inf" or "nan", in
// any case, a sign before "nan" included; a number beyond float64's range
// is ±Inf. Hexadecimal floats and '_' separators, which strconv takes, are
// refused. The error matches strconv.ErrSyntax.
func ParseDouble(s string) (float64, error) {
	if len(s) == 0 {
		return 0, strconv.ErrSyntax
	}
	return parseDouble(unsafe.Slice(unsafe.StringData(s), len(s))) // only read
}

// parseDouble parses a RESP3 double: a decimal or exponent number, "inf",
// "-inf" or "nan", in any case. A sign before "nan" is accepted: Redis
// formats doubles with the C library, which writes a negative NaN (what a
// Lua script's 0/0 is on x86) as "-nan". A number beyond float64's range
// is ±Inf, as the C library would read it.
func parseDouble(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, strconv.ErrSyntax
	}
	for _, c := range b {
		// strconv also accepts hex floats and '_' separators; RESP does not.
		if c == '_' || c == 'x' || c == 'X' || c == 'p' || c == 'P' {
			return 0, strconv.ErrSyntax
		}
	}
	if len(b) == 4 && (b[0] == '-' || b[0] == '+') && strings.EqualFold(unsafe.String(&b[1], 3), "nan") {
		return math.NaN(), nil // strconv takes "nan" without a sign only
	}
	// The unsafe string does not outlive the call: ParseFloat copies its
	// input into any error it returns.
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	if errors.Is(err, strconv.ErrRange) {
		return f, nil
	}
	return f, err
}

// isInterned reports whether a simple string is one of the replies that
// decoding returns as a shared constant instead of a copy.
func isInterned(b []byte) bool {
	_, ok := interned(b)
	return ok
}

// interned returns the constant for the most common simple strings, so that
// decoding them allocates nothing.
func interned(b []byte) (string, bool) {
	switch string(b) {
	case "OK":
		return "OK", true
	case "QUEUED":
		return "QUEUED", true
	case "PONG":
		return "PONG", true
	}
	return "", false
}
