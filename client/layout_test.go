package client

import (
	"testing"
	"unsafe"
)

// TestRequestLayout checks the cache-line layout request's doc promises:
// the fields the writer, the reader and the woken caller touch on every
// command share as few 64-byte lines as they can.
func TestRequestLayout(t *testing.T) {
	var r request
	line := func(off uintptr) uintptr { return off / 64 }
	for name, want := range map[string]struct{ off, size, line uintptr }{
		"buf":      {unsafe.Offsetof(r.buf), unsafe.Sizeof(r.buf), 0},
		"big":      {unsafe.Offsetof(r.big), unsafe.Sizeof(r.big), 0},
		"bigLen":   {unsafe.Offsetof(r.bigLen), unsafe.Sizeof(r.bigLen), 0},
		"db":       {unsafe.Offsetof(r.db), unsafe.Sizeof(r.db), 0},
		"state":    {unsafe.Offsetof(r.state), unsafe.Sizeof(r.state), 1},
		"attempts": {unsafe.Offsetof(r.attempts), unsafe.Sizeof(r.attempts), 1},
		"everSent": {unsafe.Offsetof(r.everSent), unsafe.Sizeof(r.everSent), 1},
		"exec":     {unsafe.Offsetof(r.exec), unsafe.Sizeof(r.exec), 1},
		"resend":   {unsafe.Offsetof(r.resend), unsafe.Sizeof(r.resend), 1},
		"expect":   {unsafe.Offsetof(r.expect), unsafe.Sizeof(r.expect), 1},
		"internal": {unsafe.Offsetof(r.internal), unsafe.Sizeof(r.internal), 1},
		"done":     {unsafe.Offsetof(r.done), unsafe.Sizeof(r.done), 1},
		"start":    {unsafe.Offsetof(r.start), unsafe.Sizeof(r.start), 1},
		"value":    {unsafe.Offsetof(r.value), unsafe.Sizeof(r.value), 2},
		"err":      {unsafe.Offsetof(r.err), unsafe.Sizeof(r.err), 3},
	} {
		if first, last := line(want.off), line(want.off+want.size-1); first != want.line || (name != "value" && last != first) || (name == "value" && last != 3) {
			t.Errorf("request.%s spans lines %d..%d, want line %d", name, first, last, want.line)
		}
	}
	// A request must start on a line boundary for the lines above to be
	// lines: it does when its size class (320 bytes, after 288) is a
	// multiple of 64.
	if size := unsafe.Sizeof(r); size <= 288 || size > 320 {
		t.Errorf("request is %d bytes, not in the 320-byte size class the layout assumes", size)
	}
}
