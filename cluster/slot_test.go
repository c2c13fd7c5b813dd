package cluster

import "testing"

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
