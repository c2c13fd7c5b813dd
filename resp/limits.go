package resp

import "math"

// Default limits, used where a Limits field is zero.
const (
	// DefaultMaxBulkLen is Redis's own proto-max-bulk-len: 512 MiB.
	DefaultMaxBulkLen = 512 << 20
	// DefaultMaxAggregateLen is the largest element count of one aggregate,
	// the same bound Redis puts on the length of a multi-bulk request.
	DefaultMaxAggregateLen = math.MaxInt32
	// DefaultMaxDepth is how deeply aggregates may nest. Redis's deepest
	// replies (XINFO STREAM FULL, COMMAND DOCS) nest well under 10 levels.
	DefaultMaxDepth = 64
	// DefaultMaxLineLen bounds simple strings, simple errors, doubles and big
	// numbers: values whose end is found by scanning for "\r\n".
	DefaultMaxLineLen = 1 << 20
)

// Limits bound what a decoder accepts. The zero value of each field means the
// package default. A value that exceeds a limit is rejected with a
// *ProtocolError matching ErrTooLarge or ErrTooDeep, before anything is
// allocated for it: decoders never size an allocation from a length they have
// not yet received the bytes for. MaxBulkLen and MaxAggregateLen larger than
// maxLength count as maxLength (no buffer that large exists, and larger
// ones would overflow the decoder's offsets): 64 Ti, or 512 Mi where int
// is 32 bits.
type Limits struct {
	MaxBulkLen      int64 // longest bulk string, bulk error, verbatim or streamed string; default DefaultMaxBulkLen
	MaxAggregateLen int64 // most elements in one array, set or push (pairs in a map or attribute); default DefaultMaxAggregateLen
	MaxDepth        int   // deepest nesting of aggregates and attributes; default DefaultMaxDepth
	MaxLineLen      int   // longest simple string, simple error, double or big number; default DefaultMaxLineLen
}

// maxLength caps MaxBulkLen and MaxAggregateLen (64 Ti; 512 Mi where int
// is 32 bits): offsets into a buffer plus such a length, or twice it (a
// map's keys and values), stay far from overflowing an int, so that a
// length converted to int neither wraps (a 4 GiB bulk read as empty on
// 32 bits) nor turns negative (an index out of range).
const maxLength = min(1<<46, math.MaxInt>>2)

// resolved returns l with zero fields replaced by the defaults.
func (l Limits) resolved() Limits {
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = DefaultMaxBulkLen
	}
	if l.MaxAggregateLen <= 0 {
		l.MaxAggregateLen = DefaultMaxAggregateLen
	}
	l.MaxBulkLen = min(l.MaxBulkLen, maxLength)
	l.MaxAggregateLen = min(l.MaxAggregateLen, maxLength)
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxLineLen <= 0 {
		l.MaxLineLen = DefaultMaxLineLen
	}
	return l
}
