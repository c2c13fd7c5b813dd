package resp

import (
	"errors"
	"io"
)

// Sizes of a Reader's buffer.
const (
	// DefaultReaderSize is the initial buffer size of a Reader.
	DefaultReaderSize = 16 << 10
	// readerRetainSize: after a frame larger than this has made the buffer
	// grow, the buffer is dropped back to its initial size once it is empty,
	// so one large reply does not pin its memory for the life of a connection.
	readerRetainSize = 1 << 20
)

// Reader decodes a stream of RESP values from an io.Reader (a net.Conn, a
// *bufio.Reader, ...). It keeps its own buffer, which grows to hold a whole
// frame (only as fast as the bytes actually arrive) so that the no-copy call
// can hand out strings that point into it. A Reader is not safe for
// concurrent use.
type Reader struct {
	rd   io.Reader
	lim  Limits  // resolved
	buf  []byte  // buf[r:w] holds bytes read and not yet decoded
	r, w int     // read and write positions in buf
	size int     // initial buffer size
	off  int64   // stream offset of buf[0], for error offsets
	err  error   // sticky: a read error or a protocol error
	s    scanner // the frame in progress
}

// NewReader returns a Reader with a DefaultReaderSize buffer and the given
// limits (zero fields mean the defaults).
func NewReader(rd io.Reader, lim Limits) *Reader {
	return NewReaderSize(rd, DefaultReaderSize, lim)
}

// NewReaderSize is NewReader with an initial buffer of size bytes.
func NewReaderSize(rd io.Reader, size int, lim Limits) *Reader {
	if size < 64 {
		size = 64
	}
	return &Reader{rd: rd, lim: lim.resolved(), buf: make([]byte, size), size: size}
}

// Reset makes r read from rd, discarding buffered bytes and any sticky error.
func (r *Reader) Reset(rd io.Reader) {
	r.rd, r.r, r.w, r.off, r.err = rd, 0, 0, 0, nil
}

// Buffered returns the number of bytes read from the underlying reader and not
// yet decoded: when it is non-zero, the next call may return without reading.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadValue reads and decodes the next value. The value owns its memory (at
// most two allocations, however large). At the end of the stream it returns
// io.EOF, or io.ErrUnexpectedEOF in the middle of a value. A *ProtocolError
// (Offset counted from the start of the stream) or a read error is sticky:
// every later call returns it again, as the stream can no longer be trusted.
// The exceptions: a timeout (an error with a Timeout() method that returns
// true, such as a passed read deadline), after which the partial frame stays
// buffered and the next call resumes it; and a *ProtocolError with Framed
// set, a malformed value in a frame that is still sound, which is consumed
// whole (the next call reads the value after it).
func (r *Reader) ReadValue() (Value, error) { return r.read(true) }

// ReadValueNoCopy is ReadValue without copying strings: the Str fields of the
// value and of every value inside it point into the Reader's buffer and are
// valid only until the next call on r. Only the Values of aggregates (one
// allocation for all of them) and streamed strings are allocated.
func (r *Reader) ReadValueNoCopy() (Value, error) { return r.read(false) }

func (r *Reader) read(copy bool) (Value, error) {
	if r.err != nil {
		return Value{}, r.err
	}
	if r.r == r.w && len(r.buf) > readerRetainSize && r.size < readerRetainSize {
		r.off += int64(r.w)
		r.buf, r.r, r.w = make([]byte, r.size), 0, 0
	}
	if v, n, ok := decodeSimple(r.buf[r.r:r.w], &r.lim, copy); ok {
		r.r += n
		return v, nil
	}
	s := &r.s
	s.reset(r.lim)
	for {
		err := s.scan(r.buf[r.r:r.w])
		if err == nil && s.bad != nil {
			err = framedErr(s, r.off+int64(r.r))
			r.r += s.pos
			return Value{}, err
		}
		if err == nil {
			v := build(r.buf[r.r:r.r+s.pos], s, copy)
			r.r += s.pos
			return v, nil
		}
		if err != errIncomplete {
			var pe *ProtocolError
			if errors.As(err, &pe) {
				pe.Offset += r.off + int64(r.r)
			}
			r.err = err
			return Value{}, err
		}
		if err := r.fill(); err != nil {
			if err == io.EOF && r.w > r.r {
				err = io.ErrUnexpectedEOF
			}
			if !isTimeout(err) {
				r.err = err
			}
			return Value{}, err
		}
	}
}

// fill reads at least one more byte into the buffer, first making room by
// moving unread bytes to the front and then, when the frame in progress fills
// the whole buffer, by doubling it.
func (r *Reader) fill() error {
	if r.w == len(r.buf) {
		if r.r > 0 {
			r.off += int64(r.r)
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		} else {
			nb := make([]byte, 2*len(r.buf))
			copy(nb, r.buf[:r.w])
			r.buf = nb
		}
	}
	for range 100 {
		n, err := r.rd.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			return errors.New("resp: io.Reader returned an invalid count")
		}
		r.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// isTimeout reports whether err says it is a timeout, as net.Error does.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
