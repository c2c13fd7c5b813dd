package cluster

import (
	"fmt"
	"testing"

	"github.com/justredis/justredis/clusterharness"
)

func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		slot int
	}{
		// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
		{"123456789", 12739}, // the CRC16/XMODEM check value 0x31C3 mod 16384
		{"foo", 12182},
		{"bar", 5061},
		{"hello", 866},
		{"", 0}, // slot 0 is a real slot
		{"{user1000}.following", Slot("user1000")},
		{"{user1000}.followers", Slot("user1000")},
		{"foo{}{bar}", Slot("foo{}{bar}")}, // empty tag: the whole key
		{"foo{{bar}}zap", Slot("{bar")},    // the tag runs from the first '{' to the first '}' after it
		{"foo{bar}{zap}", Slot("bar")},     // only the first tag counts
		{"foo{bar", Slot("foo{bar")},       // unclosed: the whole key
		{"foo}bar{baz}", Slot("baz")},      // a '}' before the first '{' does not count
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.slot {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.slot)
		}
	}
	if crc16("123456789") != 0x31C3 {
		t.Fatalf("crc16 check value = %#x, want 0x31c3", crc16("123456789"))
	}
}

// The harness computes slots on its own (it must not depend on the client
// it tests); the two agree, tags and edge cases included.
func TestSlotAgreesWithHarness(t *testing.T) {
	keys := []string{"", "{}", "{", "}", "{a", "a}", "{{a}}", "x{y}z{w}", "\x00\xff", "user:1000"}
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("key:%d", i), fmt.Sprintf("{tag%d}:%d", i%37, i), fmt.Sprintf("a{%d}b{c}", i))
	}
	for _, k := range keys {
		if a, b := Slot(k), clusterharness.KeySlot(k); a != b {
			t.Fatalf("Slot(%q) = %d, clusterharness.KeySlot = %d", k, a, b)
		}
	}
}
