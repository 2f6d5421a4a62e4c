//go:build !race

package asm

import "testing"

// TestZeroAllocs holds the hot paths to zero allocations.
func TestZeroAllocs(t *testing.T) {
	buf, _ := replyStream(100)
	var sc Scanner
	for _, l := range Levels() {
		restore := setLevelForTest(l)
		if n := testing.AllocsPerRun(100, func() {
			sc.Reset(buf)
			for from := 0; from <= len(buf); from++ {
				sc.Next(from)
			}
		}); n != 0 {
			t.Errorf("Scanner.Next at %v: %v allocs per run, want 0", l, n)
		}
		if n := testing.AllocsPerRun(100, func() { walkScanner(&sc, buf) }); n != 0 {
			t.Errorf("walkScanner at %v: %v allocs per run, want 0", l, n)
		}
		if n := testing.AllocsPerRun(100, func() {
			sinkMask = Mask64(buf) ^ Mask64Level(l, buf) ^ MaskTail(buf[:40])
		}); n != 0 {
			t.Errorf("masks at %v: %v allocs per run, want 0", l, n)
		}
		restore()
	}
	if n := testing.AllocsPerRun(100, func() {
		v, _ := ParseUint(buf[1:3])
		sinkUint = v
	}); n != 0 {
		t.Errorf("ParseUint: %v allocs per run, want 0", n)
	}
}
