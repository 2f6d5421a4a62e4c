package cluster

import "testing"

// The cluster specification's examples; the slots are CRC16-XMODEM computed apart
// (and agree with CLUSTER KEYSLOT, see TestKeySlotsAndPositionsMatchServer).
func TestKeySlot(t *testing.T) {
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3 (the spec's check value)", got)
	}
	for _, c := range []struct {
		key  string
		tag  string
		slot int
	}{
		{"foo", "foo", 12182},
		{"bar", "bar", 5061},
		{"{user1000}.following", "user1000", 3443},
		{"{user1000}.followers", "user1000", 3443},
		{"foo{}{bar}", "foo{}{bar}", 8363},
		{"foo{{bar}}zap", "{bar", 4015},
		{"foo{bar}{zap}", "bar", 5061},
		{"{", "{", 4092},
		{"}{", "}{", 12793},
		{"", "", 0},
	} {
		if got := string(HashTag([]byte(c.key))); got != c.tag {
			t.Errorf("HashTag(%q) = %q, want %q", c.key, got, c.tag)
		}
		if got := KeySlotString(c.key); got != c.slot {
			t.Errorf("KeySlot(%q) = %d, want %d", c.key, got, c.slot)
		}
	}
}

func TestKeySlotAllocs(t *testing.T) {
	k := "{user1000}.following"
	if a := testing.AllocsPerRun(100, func() { _ = KeySlotString(k) }); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}
