package resp

import (
	"bytes"
	"unsafe"
)

// builder turns a frame that the scanner has validated into a Value, filling
// the two arenas the scanner sized. It never fails: every check was done by
// the scan.
type builder struct {
	buf    []byte  // the frame
	pos    int     // next byte to build from
	vals   []Value // arena for nested values, exactly as long as needed
	vi     int     // next free slot of vals
	strs   []byte  // arena for copied strings; appended within its capacity
	copy   bool    // copy strings into strs (else borrow them from buf)
	counts []int   // element counts of streamed aggregates, in header order
	ci     int     // next entry of counts
}

// build decodes the frame of s from buf. copy selects owned strings.
func build(buf []byte, s *scanner, copy bool) Value {
	b := builder{buf: buf, copy: copy, counts: s.counts}
	if s.nvals > 0 {
		b.vals = make([]Value, s.nvals)
	}
	nstr := s.nstream
	if copy {
		nstr += s.nbytes
	}
	if nstr > 0 {
		b.strs = make([]byte, 0, nstr)
	}
	return b.value()
}

// str returns buf[start:end] as a string: borrowed or copied into the arena.
func (b *builder) str(start, end int) string {
	if end == start {
		return ""
	}
	if !b.copy {
		return unsafe.String(&b.buf[start], end-start)
	}
	off := len(b.strs)
	b.strs = append(b.strs, b.buf[start:end]...)
	return unsafe.String(&b.strs[off], end-start)
}

// lineEnd returns the index of the '\r' ending the line that starts at from.
func (b *builder) lineEnd(from int) int {
	return from + bytes.IndexByte(b.buf[from:], '\r')
}

// length reads the length or count after a type byte.
func (b *builder) length() int {
	n, next, _ := parseInt(b.buf, b.pos+1, ErrInvalidLength)
	b.pos = next
	return int(n)
}

func (b *builder) value() Value {
	t := Type(b.buf[b.pos])
	switch t {
	case TypeSimpleString, TypeError, TypeBigNumber:
		start := b.pos + 1
		end := b.lineEnd(start)
		b.pos = end + 2
		if t == TypeSimpleString {
			if s, ok := interned(b.buf[start:end]); ok {
				return Value{Type: t, Str: s}
			}
		}
		return Value{Type: t, Str: b.str(start, end)}
	case TypeInteger:
		n, next, _ := parseInt(b.buf, b.pos+1, ErrInvalidNumber)
		b.pos = next
		return Value{Type: t, Int: n}
	case TypeNull:
		b.pos += 3
		return Value{Type: t}
	case TypeBoolean:
		v := Bool(b.buf[b.pos+1] == 't')
		b.pos += 4
		return v
	case TypeDouble:
		start := b.pos + 1
		end := b.lineEnd(start)
		b.pos = end + 2
		f, _ := parseDouble(b.buf[start:end])
		return Value{Type: t, Float: f}
	case TypeBulkString, TypeBlobError, TypeVerbatim:
		if b.buf[b.pos+1] == '?' {
			return b.streamedString()
		}
		n := b.length()
		if n < 0 {
			return Value{Type: TypeNull}
		}
		start := b.pos
		b.pos += n + 2
		return Value{Type: t, Str: b.str(start, start+n)}
	case TypeAttribute:
		attr := b.aggregate(t)
		v := b.value() // not an attribute: the scanner refuses two in a row
		a := &b.vals[b.vi]
		b.vi++
		*a = attr
		v.Attrs = a
		return v
	}
	return b.aggregate(t) // TypeArray, TypeMap, TypeSet, TypePush
}

// aggregate builds an array, map, set, push or attribute.
func (b *builder) aggregate(t Type) Value {
	var n int
	streamed := b.buf[b.pos+1] == '?'
	if streamed {
		n = b.counts[b.ci]
		b.ci++
		b.pos += 4
	} else {
		n = b.length()
		if n < 0 {
			return Value{Type: TypeNull}
		}
		if t == TypeMap || t == TypeAttribute {
			n *= 2
		}
	}
	v := Value{Type: t}
	if n > 0 {
		v.Elems = b.vals[b.vi : b.vi+n : b.vi+n]
		b.vi += n
		for i := range v.Elems {
			v.Elems[i] = b.value()
		}
	} else {
		v.Elems = []Value{}
	}
	if streamed {
		b.pos += 3 // ".\r\n"
	}
	return v
}

// streamedString joins the chunks of a "$?" string into the arena.
func (b *builder) streamedString() Value {
	b.pos += 4 // "$?\r\n"
	off := len(b.strs)
	for {
		n := b.length() // after ';'
		if n == 0 {
			break
		}
		b.strs = append(b.strs, b.buf[b.pos:b.pos+n]...)
		b.pos += n + 2
	}
	v := Value{Type: TypeBulkString}
	if len(b.strs) > off {
		v.Str = unsafe.String(&b.strs[off], len(b.strs)-off)
	}
	return v
}
