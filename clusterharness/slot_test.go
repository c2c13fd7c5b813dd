package clusterharness

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKeySlot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		slot int
	}{
		{"123456789", 0x31C3 % SlotCount}, // CRC-16/XMODEM's check value
		{"", 0},
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", KeySlot("user1000")},
		{"{user1000}.followers", KeySlot("user1000")},
		{"foo{}{bar}", int(crc16("foo{}{bar}") % SlotCount)}, // empty tag: the whole key
		{"foo{{bar}}zap", KeySlot("{bar")},                   // the first "{" to the first "}" after it
		{"foo{bar}{zap}", KeySlot("bar")},
		{"{", int(crc16("{") % SlotCount)},
		{"}{", int(crc16("}{") % SlotCount)},
	} {
		assert.Equal(t, tc.slot, KeySlot(tc.key), "KeySlot(%q)", tc.key)
	}
}

func TestKeyInSlot(t *testing.T) {
	t.Parallel()
	for _, slot := range []int{0, 1, 5460, 5461, 12182, SlotCount - 1} {
		k := KeyInSlot(slot)
		assert.Equal(t, slot, KeySlot(k), k)
		assert.Equal(t, slot, KeySlot("{"+k+"}suffix"), k)
	}
	for s := range SlotCount {
		if KeySlot(KeyInSlot(s)) != s {
			t.Fatalf("KeyInSlot(%d) = %q is in slot %d", s, KeyInSlot(s), KeySlot(KeyInSlot(s)))
		}
	}
	assert.Panics(t, func() { KeyInSlot(-1) })
	assert.Panics(t, func() { KeyInSlot(SlotCount) })
}

func TestSlotRange(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "5", SlotRange{5, 5}.String())
	assert.Equal(t, "0-5460", SlotRange{0, 5460}.String())
	assert.Equal(t, 5461, SlotRange{0, 5460}.Len())
	assert.True(t, SlotRange{3, 7}.Contains(7))
	assert.False(t, SlotRange{3, 7}.Contains(8))
	assert.Equal(t, "1-3 5", formatRanges([]SlotRange{{1, 3}, {5, 5}}))
	assert.Equal(t, "-", formatRanges(nil))
}
