package redistest

import "testing"

// The masters of a fresh cluster serve every slot between them, and Reshard moves
// exactly the slots it is asked to.
func TestReshard(t *testing.T) {
	c := StartCluster(t, 3, 0)
	ms := c.Masters()
	total := 0
	for _, m := range ms {
		total += slotsOwned(m)
	}
	if total != 16384 {
		t.Fatalf("the masters serve %d slots, want 16384", total)
	}
	from, to := slotsOwned(ms[0]), slotsOwned(ms[1])
	if err := c.Reshard(ms[0], ms[1], 10); err != nil {
		t.Fatal(err)
	}
	if a, b := slotsOwned(ms[0]), slotsOwned(ms[1]); a != from-10 || b != to+10 {
		t.Fatalf("after moving 10 slots: %d and %d, want %d and %d", a, b, from-10, to+10)
	}
}
