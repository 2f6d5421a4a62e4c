package ring

import (
	"bytes"
	"strings"
	"testing"
)

// publish reserves a slot, fills it with cmd and publishes it.
func publish(t *testing.T, r *Ring, cmd string) uint64 {
	t.Helper()
	seq, buf, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	*buf = append(*buf, cmd...)
	r.Publish(seq, false)
	return seq
}

func TestCollectVec(t *testing.T) {
	r := New(64)
	big := strings.Repeat("B", 100)
	cmds := []string{"a;", big + "1;", "b;", "c;", big + "2;", big + "3;", "d;"}
	var seqs []uint64
	for _, c := range cmds {
		seqs = append(seqs, publish(t, r, c))
	}
	// A small dst forces growth after a reference, so later parts start in a new
	// array while vec keeps the old one.
	dst, vec, n := r.CollectVec(make([]byte, 0, 1), nil, 50)
	if n != len(cmds) {
		t.Fatalf("n = %d, want %d", n, len(cmds))
	}
	if got, want := string(bytes.Join(vec, nil)), strings.Join(cmds, ""); got != want {
		t.Fatalf("vec joins to %q, want %q", got, want)
	}
	refs := 0
	for _, b := range vec {
		if len(b) > 50 {
			refs++
		}
	}
	if refs != 3 {
		t.Fatalf("%d commands referenced, want 3 (vec %q)", refs, vec)
	}
	if strings.Contains(string(dst), "B") {
		t.Fatalf("a large command was copied into dst %q", dst)
	}
	for _, i := range []int{1, 4, 5} {
		if r.slot(seqs[i]).cmd != nil {
			t.Fatalf("slot of command %d still holds its buffer", i)
		}
	}
	// Appending to a vec part must not overwrite the next part (cap is clipped).
	for _, b := range vec {
		if cap(b) != len(b) && len(b) <= 50 {
			t.Fatalf("part %q has spare capacity %d", b, cap(b)-len(b))
		}
	}

	// With nothing large, vec stays empty and dst holds everything.
	publish(t, r, "e;")
	publish(t, r, "f;")
	dst, vec, n = r.CollectVec(dst[:0], vec[:0], 50)
	if n != 2 || len(vec) != 0 || string(dst) != "e;f;" {
		t.Fatalf("CollectVec = %q, %q, %d; want \"e;f;\", no vec, 2", dst, vec, n)
	}
}

func TestCollectVecRefLimit(t *testing.T) {
	r := New(256)
	big := strings.Repeat("B", 64)
	var want strings.Builder
	for i := 0; i < MaxVecRefs+5; i++ {
		c := big + ";"
		publish(t, r, c)
		want.WriteString(c)
	}
	dst, vec, n := r.CollectVec(nil, nil, 10)
	if n != MaxVecRefs+5 {
		t.Fatalf("n = %d", n)
	}
	if len(vec) > 2*MaxVecRefs+1 {
		t.Fatalf("vec has %d parts, more than %d", len(vec), 2*MaxVecRefs+1)
	}
	if got := string(bytes.Join(vec, nil)); got != want.String() {
		t.Fatalf("vec joins to %d bytes, want %d", len(got), want.Len())
	}
	if len(dst) != 5*len(big+";") {
		t.Fatalf("dst holds %d bytes, want the 5 commands past the limit", len(dst))
	}
}
