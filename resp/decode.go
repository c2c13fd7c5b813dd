package resp

// Decoder decodes RESP values from byte slices that the caller manages, such
// as a buffer filled by an event loop. Its zero value decodes with the
// default Limits. A Decoder is not safe for concurrent use (it keeps scratch
// space between calls); use one per goroutine.
type Decoder struct {
	// Limits bound what is accepted; zero fields mean the defaults.
	Limits Limits

	s scanner
}

// Decode decodes the first value in buf. It returns the value and the number
// of bytes it took. When buf holds only the beginning of a value, Decode
// returns n == 0 and a nil error: append more bytes and call again with the
// whole buffer. Malformed input gives a *ProtocolError whose Offset is
// relative to buf, and n == 0; but when the error's Framed is set (a bad
// value in a sound frame), n is the frame's length, to skip it by.
//
// Each call checks buf from its start (the caller owns the bytes, and the
// second pass that builds the value trusts what the first checked), so a
// value that arrives in k pieces costs k scans of what has arrived: a 2 MB
// array of small elements fed 4 KiB at a time takes about a second. Feed
// large values in large pieces, or read a stream with a Reader, which
// owns its buffer and resumes where it stopped.
//
// The returned Value owns its memory (at most two allocations, however large
// it is) and stays valid after buf is reused.
func (d *Decoder) Decode(buf []byte) (v Value, n int, err error) {
	return d.decode(buf, true)
}

// DecodeNoCopy is Decode without copying strings: the Str fields of the
// returned value and of every value inside it point into buf, and are valid
// only as long as buf is not modified. Only the Values of aggregates are
// allocated (one allocation for all of them).
func (d *Decoder) DecodeNoCopy(buf []byte) (v Value, n int, err error) {
	return d.decode(buf, false)
}

func (d *Decoder) decode(buf []byte, copy bool) (Value, int, error) {
	lim := d.Limits.resolved()
	if v, n, ok := decodeSimple(buf, &lim, copy); ok {
		return v, n, nil
	}
	s := &d.s
	s.reset(lim)
	switch err := s.scan(buf); err {
	case nil:
		if s.bad != nil {
			return Value{}, s.pos, framedErr(s, 0)
		}
		return build(buf[:s.pos], s, copy), s.pos, nil
	case errIncomplete:
		return Value{}, 0, nil
	default:
		return Value{}, 0, err
	}
}

// Decode decodes the first value in buf with the default Limits; see
// Decoder.Decode.
func Decode(buf []byte) (v Value, n int, err error) {
	var d Decoder
	return d.Decode(buf)
}

// framedErr is the error for the complete frame s scanned, which holds a
// bad value: s.bad, its offset moved by base, marked with the frame's type.
func framedErr(s *scanner, base int64) error {
	pe := *s.bad.(*ProtocolError)
	pe.Offset += base
	pe.Framed = s.top
	return &pe
}
