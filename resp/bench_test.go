package resp

import (
	"strings"
	"testing"
)

// loopReader returns the same frame forever, so a Reader can be benchmarked
// without I/O.
type loopReader struct {
	ring []byte // the frame repeated to at least 64 KiB
	off  int
}

func newLoopReader(frame []byte) *loopReader {
	ring := frame
	for len(ring) < 64<<10 {
		ring = append(ring, frame...)
	}
	return &loopReader{ring: ring}
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.ring[l.off:])
	l.off = (l.off + n) % len(l.ring)
	return n, nil
}

var benchFrames = []struct {
	name  string
	frame []byte
}{
	{"SimpleString", []byte("+OK\r\n")},
	{"Integer", []byte(":12345\r\n")},
	{"Bulk16B", AppendBulkString(nil, strings.Repeat("v", 16))},
	{"Bulk16KiB", AppendBulkString(nil, strings.Repeat("v", 16<<10))},
	{"Array100", func() []byte {
		b := AppendArrayHeader(nil, 100)
		for i := 0; i < 100; i++ {
			b = AppendBulkString(b, "member:0000000000")
		}
		return b
	}()},
}

// BenchmarkReader decodes through a Reader, as a client's connection does.
func BenchmarkReader(b *testing.B) {
	for _, bf := range benchFrames {
		for _, mode := range []string{"Copy", "NoCopy"} {
			b.Run(bf.name+"/"+mode, func(b *testing.B) {
				r := NewReader(newLoopReader(bf.frame), Limits{})
				read := r.ReadValue
				if mode == "NoCopy" {
					read = r.ReadValueNoCopy
				}
				b.SetBytes(int64(len(bf.frame)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := read(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecoder decodes from a byte slice.
func BenchmarkDecoder(b *testing.B) {
	for _, bf := range benchFrames {
		b.Run(bf.name, func(b *testing.B) {
			var d Decoder
			b.SetBytes(int64(len(bf.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, n, err := d.Decode(bf.frame); n == 0 || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// BenchmarkAppendCommand encodes a 3-argument command.
func BenchmarkAppendCommand(b *testing.B) {
	buf := make([]byte, 0, 256)
	key, val := "key:000000001", strings.Repeat("v", 16)
	b.Run("Any", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = AppendCommand(buf[:0], "SET", key, val); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Strings", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendCommandStrings(buf[:0], "SET", key, val)
		}
	})
	b.Run("Ints", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendCommand(buf[:0], "INCRBY", key, 12345)
		}
	})
}

// TestAllocationBudget: decoding the common small replies allocates nothing;
// a bulk string allocates its bytes once; an array of bulks allocates its
// Values once and its bytes once; encoding a command allocates nothing.
func TestAllocationBudget(t *testing.T) {
	budget := []struct {
		frame  string
		copy   float64
		nocopy float64
	}{
		{"+OK\r\n", 0, 0},
		{"+QUEUED\r\n", 0, 0},
		{":1\r\n", 0, 0},
		{"_\r\n", 0, 0},
		{"$-1\r\n", 0, 0},
		{"#t\r\n", 0, 0},
		{",1.5\r\n", 0, 0},
		{"$16\r\nvvvvvvvvvvvvvvvv\r\n", 1, 0},
		{string(benchFrames[4].frame), 2, 1},
	}
	for _, bt := range budget {
		r := NewReader(newLoopReader([]byte(bt.frame)), Limits{})
		if got := testing.AllocsPerRun(200, func() { _, _ = r.ReadValue() }); got != bt.copy {
			t.Errorf("ReadValue(%.20q): %v allocations, budget %v", bt.frame, got, bt.copy)
		}
		if got := testing.AllocsPerRun(200, func() { _, _ = r.ReadValueNoCopy() }); got != bt.nocopy {
			t.Errorf("ReadValueNoCopy(%.20q): %v allocations, budget %v", bt.frame, got, bt.nocopy)
		}
		var d Decoder
		frame := []byte(bt.frame)
		if got := testing.AllocsPerRun(200, func() { _, _, _ = d.Decode(frame) }); got != bt.copy {
			t.Errorf("Decode(%.20q): %v allocations, budget %v", bt.frame, got, bt.copy)
		}
	}
	buf := make([]byte, 0, 256)
	key := strings.Repeat("k", 10)
	if got := testing.AllocsPerRun(200, func() {
		buf, _ = AppendCommand(buf[:0], "SET", key, 42, 1.5, []byte(key))
	}); got != 0 {
		t.Errorf("AppendCommand: %v allocations, want 0", got)
	}
}
