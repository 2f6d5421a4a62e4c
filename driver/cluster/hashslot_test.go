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

// Redirects give the address as the slot map keeps it: IPv6 hosts, which redis writes
// bare ("::1:7001"), in brackets; an unknown endpoint (":7001") as no address; a
// reply that cannot be read is not taken for a redirect.
func TestParseRedirect(t *testing.T) {
	for _, c := range []struct {
		msg  string
		ask  bool
		slot int
		addr string
		ok   bool
	}{
		{"MOVED 3999 127.0.0.1:6381", false, 3999, "127.0.0.1:6381", true},
		{"ASK 0 node-1.example:7000", true, 0, "node-1.example:7000", true},
		{"MOVED 12182 ::1:27001", false, 12182, "[::1]:27001", true},
		{"ASK 5 fe80::1:2:7000", true, 5, "[fe80::1:2]:7000", true},
		{"MOVED 7 [::1]:7001", false, 7, "[::1]:7001", true},
		{"MOVED 16383 :7001", false, 16383, "", true},
		{"MOVED 16384 127.0.0.1:7001", false, 0, "", false},
		{"MOVED 1 127.0.0.1", false, 0, "", false},
		{"MOVED 1 127.0.0.1:0", false, 0, "", false},
		{"MOVED 1 127.0.0.1:x", false, 0, "", false},
		{"MOVED 1", false, 0, "", false},
		{"TRYAGAIN 1 127.0.0.1:7001", false, 0, "", false},
	} {
		ask, slot, addr, ok := parseRedirect(c.msg)
		if ok != c.ok || (ok && (ask != c.ask || slot != c.slot || addr != c.addr)) {
			t.Errorf("parseRedirect(%q) = %v, %d, %q, %v; want %v, %d, %q, %v", c.msg, ask, slot, addr, ok, c.ask, c.slot, c.addr, c.ok)
		}
	}
}
