package resp

import (
	"errors"
	"io"
	"testing"
)

// The seed corpus for both targets is in testdata/fuzz/<target>/ (the golden
// vectors and malformed inputs); f.Add adds the golden vectors again so that
// a plain `go test` runs them even if the directory is lost.

// FuzzDecode: the Decoder never panics; what it accepts round-trips through
// AppendValue; the no-copy decode agrees; and what a frame costs in memory is
// bounded by its size on the wire.
func FuzzDecode(f *testing.F) {
	for _, g := range goldens {
		f.Add([]byte(g.wire))
	}
	f.Add([]byte("%1\r\n+k\r\n=2\r\nab\r\n")) // a bad value in a sound frame
	lim := Limits{MaxBulkLen: 1 << 16, MaxAggregateLen: 1 << 12, MaxDepth: 16, MaxLineLen: 1 << 10}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := Decoder{Limits: lim}
		v, n, err := d.Decode(in)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not a *ProtocolError", err)
			}
			if pe.Offset < 0 || pe.Offset > int64(len(in)) {
				t.Fatalf("offset %d outside the input of %d bytes", pe.Offset, len(in))
			}
			// A bad value in a sound frame gives the frame's length, which
			// holds the bad value; any other error consumes nothing.
			if pe.Framed != 0 && (n <= int(pe.Offset) || n > len(in)) || pe.Framed == 0 && n != 0 {
				t.Fatalf("error %v (framed %q) with n = %d of %d bytes", err, pe.Framed, n, len(in))
			}
			return
		}
		if n == 0 {
			return // need more
		}
		if n > len(in) {
			t.Fatalf("consumed %d of %d bytes", n, len(in))
		}
		// Memory for the frame is bounded by its wire size: every nested
		// value takes at least 3 bytes, every copied string byte one byte.
		if d.s.nvals > n/3 || d.s.nbytes+d.s.nstream > n {
			t.Fatalf("frame of %d bytes sized %d values and %d string bytes", n, d.s.nvals, d.s.nbytes+d.s.nstream)
		}
		nc, n2, err := d.DecodeNoCopy(in)
		if err != nil || n2 != n || !nc.Equal(v) {
			t.Fatalf("DecodeNoCopy = %v, %d, %v; Decode = %v, %d", nc, n2, err, v, n)
		}
		wire := AppendValue(nil, v)
		again, n3, err := d.Decode(wire)
		if err != nil || n3 != len(wire) || !again.Equal(v) {
			t.Fatalf("re-encoded %q decodes to %v, %d, %v; want %v", wire, again, n3, err, v)
		}
	})
}

// FuzzReader: a Reader fed the input in chunks of any size decodes exactly
// the values, and fails with the same error, as a Decoder walking the input.
func FuzzReader(f *testing.F) {
	for _, g := range goldens {
		f.Add([]byte(g.wire+g.wire), uint8(1))
	}
	f.Add([]byte("*2\r\n:x\r\n#q\r\n>1\r\n,-\r\n:7\r\n"), uint8(3)) // bad values in sound frames
	lim := Limits{MaxBulkLen: 1 << 16, MaxAggregateLen: 1 << 12, MaxDepth: 16, MaxLineLen: 1 << 10}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		d := Decoder{Limits: lim}
		r := NewReaderSize(&chunkReader{b: in, n: int(chunk%16) + 1}, 64, lim)
		off := 0
		for {
			want, n, derr := d.Decode(in[off:])
			got, rerr := r.ReadValue()
			switch {
			case derr != nil:
				var dpe, rpe *ProtocolError
				if !errors.As(rerr, &rpe) || !errors.As(derr, &dpe) || dpe.Err != rpe.Err ||
					dpe.Offset+int64(off) != rpe.Offset || dpe.Framed != rpe.Framed {
					t.Fatalf("at %d: Decoder error %v, Reader error %v", off, derr, rerr)
				}
				if dpe.Framed == 0 {
					return
				}
				// Both skip the frame and go on.
			case n == 0:
				if off == len(in) && rerr != io.EOF || off < len(in) && rerr != io.ErrUnexpectedEOF {
					t.Fatalf("at %d of %d: Decoder needs more, Reader says %v", off, len(in), rerr)
				}
				return
			case rerr != nil || !got.Equal(want):
				t.Fatalf("at %d: Decoder %v, Reader %v, %v", off, want, got, rerr)
			}
			off += n
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}
