package clusterharness

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// SlotCount is the number of hash slots of a Redis Cluster; slots are
// numbered 0 to SlotCount-1.
const SlotCount = 16384

// SlotRange is a range of hash slots, Start to End inclusive.
type SlotRange struct {
	Start, End int
}

// Len returns the number of slots in the range.
func (r SlotRange) Len() int { return r.End - r.Start + 1 }

// Contains reports whether slot is in the range.
func (r SlotRange) Contains(slot int) bool { return slot >= r.Start && slot <= r.End }

// String returns "a-b", or "a" for a range of one slot, as CLUSTER NODES
// writes them.
func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return strconv.Itoa(r.Start) + "-" + strconv.Itoa(r.End)
}

// formatRanges writes ranges as "a-b c d-e", or "-" when there are none.
func formatRanges(rs []SlotRange) string {
	if len(rs) == 0 {
		return "-"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}

// formatSlots writes sorted, unique slots as ranges, like formatRanges.
func formatSlots(slots []int) string {
	var rs []SlotRange
	for _, s := range slots {
		if n := len(rs); n > 0 && rs[n-1].End+1 == s {
			rs[n-1].End = s
			continue
		}
		rs = append(rs, SlotRange{s, s})
	}
	return formatRanges(rs)
}

// KeySlot returns the hash slot of key, as Redis computes it: CRC16 of the
// key, or of its hash tag (the text between the first "{" and the first "}"
// after it, when that text is not empty), modulo SlotCount. It is the
// client's cluster.Slot, written again so that the harness does not depend
// on the client it tests.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % SlotCount)
}

// KeyInSlot returns a short key that hashes to slot: the first of "k0",
// "k1", "k2", ... that does. It contains no braces, so "{" + KeyInSlot(s) +
// "}" + anything is in slot s too: that is how to make many keys of one
// slot. It panics if slot is out of range. The first call builds a table of
// all slots (a few milliseconds).
func KeyInSlot(slot int) string {
	if slot < 0 || slot >= SlotCount {
		panic(fmt.Sprintf("clusterharness: KeyInSlot(%d): slot out of range", slot))
	}
	return slotKeys()[slot]
}

// slotKeys is the table behind KeyInSlot.
var slotKeys = sync.OnceValue(func() []string {
	keys := make([]string, SlotCount)
	left := SlotCount
	for i := 0; left > 0; i++ {
		k := "k" + strconv.Itoa(i)
		if s := KeySlot(k); keys[s] == "" {
			keys[s] = k
			left--
		}
	}
	return keys
})

// crcTable is CRC-16/XMODEM's table (polynomial 0x1021).
var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// crc16 is CRC-16/XMODEM (initial value 0), Redis Cluster's key hash.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^s[i]]
	}
	return crc
}

// checkSlot returns an error matching ErrInvalidSlot when slot is out of
// range.
func checkSlot(slot int) error {
	if slot < 0 || slot >= SlotCount {
		return fmt.Errorf("%w: %d is not in 0-%d", ErrInvalidSlot, slot, SlotCount-1)
	}
	return nil
}
